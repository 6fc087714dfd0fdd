# Goldens for analytics/stats/rates.py and comparisons.py.
# Run from the repository root:  Rscript tests/analytics/stats/r/rates_comparisons.R
# Needs: epitools, jsonlite (Debian r-cran-epitools, r-cran-jsonlite).
suppressPackageStartupMessages({library(epitools); library(jsonlite)})
out_dir <- "tests/analytics/stats/golden"
ver <- list(R = R.version.string, epitools = as.character(packageVersion("epitools")),
            jsonlite = as.character(packageVersion("jsonlite")))

## --- exact Poisson rates: stats::poisson.test (qgamma limits) -------------------------
pois_cases <- list(c(0, 1000), c(1, 2500), c(5, 1000), c(17, 12345.5), c(250, 1e6))
poisson <- lapply(pois_cases, function(cs) {
  t <- poisson.test(cs[1], cs[2], conf.level = 0.95)
  list(events = cs[1], person_time = cs[2], rate = unname(t$estimate),
       lower = t$conf.int[1], upper = t$conf.int[2])
})
poisson90 <- {t <- poisson.test(7, 800, conf.level = 0.90)
  list(events = 7, person_time = 800, rate = unname(t$estimate), lower = t$conf.int[1], upper = t$conf.int[2])}

## --- proportions: epitools::binom.wilson, binom.exact -------------------------------
prop_cases <- list(c(0, 20), c(3, 10), c(17, 40), c(40, 40), c(123, 1000))
proportions <- lapply(prop_cases, function(cs) {
  w <- binom.wilson(cs[1], cs[2]); e <- binom.exact(cs[1], cs[2])
  list(x = cs[1], n = cs[2], p = w$proportion, wilson_lower = w$lower, wilson_upper = w$upper,
       exact_lower = e$lower, exact_upper = e$upper)
})

## --- direct standardization: epitools::ageadjust.direct (Fay & Feuer 1997) -----------
who <- c(8860, 8690, 8600, 8470, 8220, 7930, 7610, 7150, 6590, 6040, 5370, 4550, 3720, 2960,
         2210, 1520, 910, 440 + 150 + 40 + 5)
us2000 <- c(69135, 72533, 73032, 72169, 66478, 64529, 71044, 80762, 81851, 72118, 62716, 48454,
            38793, 34264, 31773, 26999, 17842, 15508)
pop <- c(4200, 4100, 3900, 3800, 3600, 3500, 3300, 3100, 2900, 2600, 2300, 2000, 1700, 1400,
         1100, 800, 500, 300)
cnt <- c(0, 0, 1, 0, 2, 1, 3, 2, 4, 6, 7, 9, 12, 15, 14, 13, 10, 8)
sparse <- c(0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0)
dsr <- function(count, stdpop, conf = 0.95) {
  r <- ageadjust.direct(count = count, pop = pop, stdpop = stdpop, conf.level = conf)
  # Tiwari et al. (2006): same lower limit, upper limit with the mean weight (no R package)
  alpha <- 1 - conf; stdwt <- stdpop / sum(stdpop); rate <- count / pop
  y <- sum(stdwt * rate); v <- sum(stdwt^2 * count / pop^2); wa <- mean(stdwt / pop)
  tiw_u <- qgamma(1 - alpha / 2, shape = (y + wa)^2 / (v + wa^2), scale = (v + wa^2) / (y + wa))
  list(count = count, pop = pop, stdpop = stdpop, conf = conf, crude = unname(r["crude.rate"]),
       adj = unname(r["adj.rate"]), lci = unname(r["lci"]), uci = unname(r["uci"]),
       tiwari_uci = tiw_u)
}
direct <- list(who = dsr(cnt, who), us2000 = dsr(cnt, us2000), sparse_who = dsr(sparse, who),
               who_90 = dsr(cnt, who, 0.90))

## --- SMR: poisson.test(O, E) ---------------------------------------------------------
ref_rates <- c(0.0001, 0.0002, 0.0005, 0.001, 0.003, 0.008)
pt <- c(5000, 4000, 3000, 2000, 1000, 400)
E <- sum(ref_rates * pt)
smrs <- lapply(c(0, 3, 11, 25), function(o) {
  t <- poisson.test(o, E)
  list(observed = o, expected = E, smr = unname(t$estimate), lower = t$conf.int[1],
       upper = t$conf.int[2], p = t$p.value)
})

## --- exact rate ratio: poisson.test(c(x1, x0), c(T1, T0)) ----------------------------
rr_cases <- list(c(15, 2000, 8, 3000), c(3, 1500, 9, 1200), c(40, 10000, 41, 10000),
                 c(0, 500, 6, 900))
rate_ratio <- lapply(rr_cases, function(cs) {
  t <- poisson.test(c(cs[1], cs[3]), c(cs[2], cs[4]))
  list(x1 = cs[1], t1 = cs[2], x0 = cs[3], t0 = cs[4], rr = unname(t$estimate),
       lower = t$conf.int[1], upper = t$conf.int[2], p = t$p.value)
})

## --- Mantel-Haenszel odds ratio: mantelhaen.test; Breslow-Day (Tarone) by formula -----
a <- c(12, 8, 20, 5); b <- c(30, 25, 40, 22); c_ <- c(9, 10, 11, 2); d <- c(60, 70, 55, 40)
x <- array(NA, dim = c(2, 2, length(a)))
for (k in seq_along(a)) x[, , k] <- matrix(c(a[k], c_[k], b[k], d[k]), 2, 2)
mh <- mantelhaen.test(x, correct = TRUE); mh_nc <- mantelhaen.test(x, correct = FALSE)
or_mh <- unname(mh$estimate)
bd <- 0; dsum <- 0; vsum <- 0
for (k in seq_along(a)) {  # Breslow & Day (1980) eq. 4.30; Tarone (1985) correction
  m1 <- a[k] + c_[k]; n1 <- a[k] + b[k]; n0 <- c_[k] + d[k]
  f <- function(e) e * (n0 - m1 + e) - or_mh * (n1 - e) * (m1 - e)
  ea <- uniroot(f, c(max(0, m1 - n0), min(n1, m1)), tol = 1e-13)$root
  v <- 1 / (1 / ea + 1 / (n1 - ea) + 1 / (m1 - ea) + 1 / (n0 - m1 + ea))
  bd <- bd + (a[k] - ea)^2 / v; dsum <- dsum + a[k] - ea; vsum <- vsum + v
}
bdt <- bd - dsum^2 / vsum
mh_or <- list(a = a, b = b, c = c_, d = d, or = or_mh, lower = mh$conf.int[1],
              upper = mh$conf.int[2], p_corrected = mh$p.value, p_uncorrected = mh_nc$p.value,
              breslow_day_tarone = bdt, breslow_day_p = pchisq(bdt, length(a) - 1, lower.tail = FALSE))

## --- Mantel-Haenszel rate ratio (Greenland & Robins 1985), by formula ----------------
ae <- c(4, 10, 18, 25); t1 <- c(2000, 3000, 2500, 1500); bu <- c(5, 12, 20, 30); t0 <- c(6000, 8000, 5000, 3000)
tt <- t1 + t0; num <- sum(ae * t0 / tt); den <- sum(bu * t1 / tt); rrmh <- num / den
m <- ae + bu; se <- sqrt(sum(m * t1 * t0 / tt^2) / (num * den))
chi <- sum(ae - m * t1 / tt)^2 / sum(m * t1 * t0 / tt^2)
pi_ <- rrmh * t1 / (rrmh * t1 + t0); hom <- sum((ae - m * pi_)^2 / (m * pi_ * (1 - pi_)))
mh_rr <- list(a = ae, t1 = t1, b = bu, t0 = t0, rr = rrmh, lower = exp(log(rrmh) - qnorm(0.975) * se),
              upper = exp(log(rrmh) + qnorm(0.975) * se), p = pchisq(chi, 1, lower.tail = FALSE),
              homogeneity = hom, homogeneity_p = pchisq(hom, length(ae) - 1, lower.tail = FALSE))

write_json(list(versions = ver, poisson = poisson, poisson90 = poisson90, proportions = proportions,
                direct = direct), file.path(out_dir, "rates.json"), auto_unbox = TRUE, digits = NA,
           pretty = TRUE)
write_json(list(versions = ver, smr = smrs, rate_ratio = rate_ratio, mh_or = mh_or, mh_rr = mh_rr),
           file.path(out_dir, "comparisons.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE)
cat("wrote rates.json, comparisons.json\n")
