# Goldens for analytics/stats/trends.py.
# APC: stats::lm on log rates. Joinpoint: no NCI Joinpoint in R, so this script is an
# independent R implementation of the NCI grid-search + BIC conventions documented in
# docs/methods.md (hinge parametrisation via lm). Mann-Kendall: stats::cor.test(method =
# "kendall", exact = FALSE, continuity = TRUE); Sen's slope + interval: the algorithm of
# trend::sens.slope (Gilbert 1987), re-coded here because 'trend' is not packaged in Debian.
# Run from the repository root:  Rscript tests/analytics/stats/r/trends.R
suppressPackageStartupMessages(library(jsonlite))
out_dir <- "tests/analytics/stats/golden"
set.seed(11)
years <- 1995:2020
rate_line <- round(exp(3 + 0.021 * (years - 1995) + rnorm(length(years), 0, 0.04)), 3)
lin <- ifelse(years <= 2008, 0.045 * (years - 1995), 0.045 * 13 - 0.03 * (years - 2008))
lin <- lin + ifelse(years >= 2015, 0.06 * (years - 2015), 0)
rate_jp <- round(exp(2 + lin + rnorm(length(years), 0, 0.015)), 4)

apc_fit <- function(y, x) {
  f <- summary(lm(log(y) ~ x)); b <- f$coefficients[2, 1]; se <- f$coefficients[2, 2]
  tq <- qt(0.975, f$df[2])
  list(apc = 100 * (exp(b) - 1), lower = 100 * (exp(b - tq * se) - 1),
       upper = 100 * (exp(b + tq * se) - 1), p = f$coefficients[2, 4])
}
joinpoint_r <- function(x, y, kmax = 2, min_end = 2, min_between = 2) {
  n <- length(x); ly <- log(y); best <- list()
  allowed <- (min_end + 2):(n - min_end - 1)      # 1-based indices
  for (k in 0:kmax) {
    cands <- if (k == 0) list(integer(0)) else combn(allowed, k, simplify = FALSE)
    for (cmb in cands) {
      if (k > 1 && any(diff(cmb) - 1 < min_between)) next
      X <- if (k == 0) cbind(1, x) else cbind(1, x, sapply(x[cmb], function(t) pmax(x - t, 0)))
      f <- lm.fit(X, ly); sse <- sum(f$residuals^2)
      if (length(best) < k + 1 || sse < best[[k + 1]]$sse - 1e-12)
        best[[k + 1]] <- list(sse = sse, cmb = cmb, X = X, coef = f$coefficients)
    }
  }
  bic <- sapply(0:kmax, function(k) log(best[[k + 1]]$sse / n) + 2 * (k + 1) * log(n) / n)
  k <- which.min(bic) - 1; b <- best[[k + 1]]
  df <- n - 2 * k - 2; sigma2 <- b$sse / df
  cov <- solve(crossprod(b$X)) * sigma2
  taus <- x[b$cmb]; bounds <- c(x[1], taus, x[n])
  seg <- lapply(0:k, function(s) { cvec <- c(0, 1, rep(1, s), rep(0, k - s))
    est <- sum(cvec * b$coef); se <- sqrt(drop(t(cvec) %*% cov %*% cvec)); tq <- qt(0.975, df)
    list(apc = 100 * (exp(est) - 1), lower = 100 * (exp(est - tq * se) - 1),
         upper = 100 * (exp(est + tq * se) - 1)) })
  len <- diff(bounds) / sum(diff(bounds))
  wvec <- c(0, 1, sapply(seq_len(k), function(j) sum(len[(j + 1):(k + 1)])))
  if (k == 0) wvec <- c(0, 1)
  est <- sum(wvec * b$coef); se <- sqrt(drop(t(wvec) %*% cov %*% wvec))
  list(k = k, joinpoints = taus, bic = bic, segments = seg,
       aapc = 100 * (exp(est) - 1), aapc_lower = 100 * (exp(est - qnorm(0.975) * se) - 1),
       aapc_upper = 100 * (exp(est + qnorm(0.975) * se) - 1))
}
mk <- function(x, t = seq_along(x)) {
  ct <- suppressWarnings(cor.test(t, x, method = "kendall", exact = FALSE, continuity = TRUE))
  n <- length(x); tt <- table(x)
  var_s <- (n * (n - 1) * (2 * n + 5) - sum(tt * (tt - 1) * (2 * tt + 5))) / 18
  d <- c(); for (i in 1:(n - 1)) for (j in (i + 1):n) d <- c(d, (x[j] - x[i]) / (t[j] - t[i]))
  N <- length(d); C <- qnorm(0.975) * sqrt(var_s); sd_ <- sort(d)
  list(z = unname(ct$statistic), p = ct$p.value, var_s = var_s, sen = median(d),
       lower = sd_[round((N - C) / 2)], upper = sd_[round((N + C) / 2 + 1)])
}
pm <- c(21.3, 19.8, 22.4, 18.9, 18.1, 18.1, 17.5, 16.2, 17.0, 15.8, 15.1, 15.4, 14.2, 13.9, 14.2)
pm_years <- 2006:2020
flat <- c(5, 7, 6, 5, 7, 6, 5, 6, 7, 5, 6, 6)
write_json(list(
  versions = list(R = R.version.string),
  apc = c(list(years = years, rates = rate_line), apc_fit(rate_line, years)),
  joinpoint = c(list(years = years, rates = rate_jp), joinpoint_r(years, rate_jp)),
  joinpoint_line = c(list(years = years, rates = rate_line), joinpoint_r(years, rate_line)),
  mk_pm = c(list(values = pm, times = pm_years), mk(pm, pm_years)),
  mk_flat = c(list(values = flat), mk(flat))),
  file.path(out_dir, "trends.json"), auto_unbox = TRUE, digits = NA)
cat("wrote trends.json\n")
