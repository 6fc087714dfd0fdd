# Goldens for analytics/stats/biomonitoring.py and exposure.py.
# GM: stats::t.test on log values; percentiles: stats::quantile (type 7) with order-statistic
# ranks from stats::qbinom (Hahn & Meeker 1991); share above reference: epitools::binom.wilson;
# adjusted GM ratio: stats::lm on log values. Haversine and IDW: the formulas in
# docs/methods.md written out in R (no geosphere in Debian's R base set).
# Run from the repository root:  Rscript tests/analytics/stats/r/biomonitoring_exposure.R
suppressPackageStartupMessages({library(epitools); library(jsonlite)})
out_dir <- "tests/analytics/stats/golden"
set.seed(42)
n <- 150
grp <- sample(c("resident_far", "resident_near", "worker"), n, TRUE, prob = c(.5, .35, .15))
age <- round(runif(n, 18, 75)); sex <- sample(c("F", "M"), n, TRUE)
true <- exp(0.3 + c(resident_far = 0, resident_near = 0.35, worker = 0.8)[grp] + 0.01 * (age - 45) +
            0.1 * (sex == "M") + rnorm(n, 0, 0.7))
lod <- 0.6
below <- true < lod
value <- ifelse(below, NA, round(true, 3))
x <- ifelse(below, lod / sqrt(2), value)
tt <- t.test(log(x))
pct <- lapply(c(0.5, 0.75, 0.9, 0.95), function(p) {
  xs <- sort(x); lo <- qbinom(0.025, n, p); hi <- qbinom(0.975, n, p) + 1
  list(p = p, est = unname(quantile(x, p, type = 7)), lower = xs[lo], upper = xs[hi])
})
ref_level <- 3.5
w <- binom.wilson(sum(x > ref_level & !below), n)
fit <- lm(log(x) ~ factor(grp, levels = c("resident_far", "resident_near", "worker")) + age + sex)
ci <- confint(fit)
gmr <- list(near = exp(coef(fit)[2]), near_lower = exp(ci[2, 1]), near_upper = exp(ci[2, 2]),
            worker = exp(coef(fit)[3]), worker_lower = exp(ci[3, 1]), worker_upper = exp(ci[3, 2]),
            worker_p = summary(fit)$coefficients[3, 4])
# high non-detect share: 45% below the LOD -> GM withheld (rule: > 40%)
hav <- function(lat1, lon1, lat2, lon2, R = 6371.0088) {
  p1 <- lat1 * pi / 180; p2 <- lat2 * pi / 180
  dp <- p2 - p1; dl <- (lon2 - lon1) * pi / 180
  h <- sin(dp / 2)^2 + cos(p1) * cos(p2) * sin(dl / 2)^2
  2 * R * asin(sqrt(h))
}
res_lat <- c(40.651, 40.70, 40.58, 41.20); res_lon <- c(109.84, 109.95, 109.70, 110.50)
site_lat <- c(40.66, 40.55, 40.80); site_lon <- c(109.85, 109.62, 110.10)
D <- outer(seq_along(res_lat), seq_along(site_lat), function(i, j) hav(res_lat[i], res_lon[i], site_lat[j], site_lon[j]))
st_lat <- c(40.65, 40.68, 40.60, 40.75, 40.90); st_lon <- c(109.83, 109.90, 109.75, 110.00, 110.30)
st_val <- c(31.2, 24.8, 40.1, 18.5, 12.0)
S <- outer(seq_along(res_lat), seq_along(st_lat), function(i, j) hav(res_lat[i], res_lon[i], st_lat[j], st_lon[j]))
idw_r <- function(power, radius) sapply(seq_along(res_lat), function(i) {
  k <- S[i, ] <= radius; if (!any(k)) return(NA); wt <- S[i, k]^-power; sum(wt * st_val[k]) / sum(wt) })
write_json(list(
  versions = list(R = R.version.string, epitools = as.character(packageVersion("epitools"))),
  bio = list(value = value, below_lod = below, lod = lod, group = grp, age = age, sex = sex,
             gm = exp(mean(log(x))), gm_lower = exp(tt$conf.int[1]), gm_upper = exp(tt$conf.int[2]),
             detection_frequency = mean(!below), percentiles = pct, reference_level = ref_level,
             above = w$x, above_p = w$proportion, above_lower = w$lower, above_upper = w$upper,
             gm_ratio = gmr),
  exposure = list(res_lat = res_lat, res_lon = res_lon, site_lat = site_lat, site_lon = site_lon,
                  nearest_index = apply(D, 1, which.min) - 1, nearest_km = apply(D, 1, min),
                  st_lat = st_lat, st_lon = st_lon, st_val = st_val,
                  idw_p2_r10 = idw_r(2, 10), n_r10 = rowSums(S <= 10),
                  idw_p1_r25 = idw_r(1, 25), n_r25 = rowSums(S <= 25))),
  file.path(out_dir, "biomonitoring_exposure.json"), auto_unbox = TRUE, digits = NA, na = "null")
cat("wrote biomonitoring_exposure.json\n")
