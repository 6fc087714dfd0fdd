# Goldens for regression.trend_test_rates: the score (Rao) test as default, the Wald test as option.
# Run from the repository root:  Rscript tests/analytics/stats/r/trend_score.R
# p-values: anova(glm, test = "Rao") and statmod::glm.scoretest (z); the interval inverts the
# score test (the formula written out below, solved with uniroot), as no R function returns it.
suppressPackageStartupMessages({library(jsonlite); library(statmod)})
out_dir <- "tests/analytics/stats/golden"
ver <- list(R = R.version.string, statmod = as.character(packageVersion("statmod")))
score_z <- function(b, y, t, s) {
  # the score statistic of H0: slope = b (intercept profiled out), signed
  mu <- t * exp(b * s); mu <- mu * sum(y) / sum(mu)
  u <- sum(s * (y - mu)); i <- sum(s^2 * mu) - sum(s * mu)^2 / sum(mu)
  u / sqrt(i)
}
score_limit <- function(y, t, s, target, lower) {
  f <- function(b) score_z(b, y, t, s) - target
  r <- diff(range(s)); lim <- 50 / r
  if (lower) { if (f(-lim) < 0) return(-Inf) } else { if (f(lim) > 0) return(Inf) }
  uniroot(f, if (lower) c(-lim, lim) else c(-lim, lim), tol = 1e-12)$root
}
one <- function(name, y, t, s = seq_along(y), conf = 0.95) {
  ctl <- glm.control(epsilon = 1e-12, maxit = 100)
  fit <- glm(y ~ s + offset(log(t)), family = poisson, control = ctl)
  null <- glm(y ~ 1 + offset(log(t)), family = poisson, control = ctl)
  rao <- anova(null, fit, test = "Rao")
  z0 <- glm.scoretest(null, s)
  zq <- qnorm(1 - (1 - conf) / 2)
  sm <- summary(fit)$coefficients
  list(name = name, events = y, person_time = t, scores = s, conf = conf,
       rao_chi2 = rao$Rao[2], rao_p = rao[["Pr(>Chi)"]][2], scoretest_z = z0,
       ci_lower = exp(score_limit(y, t, s, zq, TRUE)),
       ci_upper = exp(score_limit(y, t, s, -zq, FALSE)),
       mle_rr = exp(unname(coef(fit)[2])),
       wald_p = unname(sm[2, 4]),
       wald_lower = exp(unname(sm[2, 1] - zq * sm[2, 2])),
       wald_upper = exp(unname(sm[2, 1] + zq * sm[2, 2])))
}
cases <- list(
  one("distance_bands", c(30, 22, 18, 9), c(4000, 4200, 5100, 3900), c(1, 3, 7.5, 15)),
  one("default_scores", c(12, 15, 21, 30, 26), c(2100, 2000, 2300, 2400, 2050)),
  one("sparse_middle", c(0, 1, 5), c(100, 100, 100)),
  one("sparse_90", c(2, 0, 3, 9), c(310.5, 290, 305, 298.2), c(0.5, 1.5, 3, 6), conf = 0.9),
  one("no_trend", c(10, 11, 10), c(1000, 1000, 1000)))
# all events in the top category: the MLE does not exist (glm reports a huge RR and p ~ 1);
# the score test and the score interval's lower limit still do
top <- one("all_events_top", c(0, 0, 5), c(100, 100, 100))
write_json(list(versions = ver, cases = c(cases, list(top))),
           file.path(out_dir, "trend_score.json"), auto_unbox = TRUE, digits = NA)
cat("wrote trend_score.json\n")
