# Goldens for analytics/stats/regression.py: stats::glm, MASS::glm.nb, stats::prop.trend.test.
# Run from the repository root:  Rscript tests/analytics/stats/r/regression.R
suppressPackageStartupMessages({library(MASS); library(jsonlite)})
out_dir <- "tests/analytics/stats/golden"
ver <- list(R = R.version.string, MASS = as.character(packageVersion("MASS")))
set.seed(5)
n <- 600
d <- data.frame(
  age_band = sample(c("20-24", "40-44", "60-64"), n, TRUE),
  sex = sample(c("F", "M"), n, TRUE),
  smoking = sample(c("never", "former", "current"), n, TRUE, prob = c(.5, .2, .3)),
  works_at_site = sample(c(TRUE, FALSE), n, TRUE, prob = c(.2, .8)),
  person_years = round(runif(n, 0.5, 5), 2),
  distance_km = round(runif(n, 0.2, 25), 1), stringsAsFactors = FALSE)
lin <- -4 + c("20-24" = 0, "40-44" = 0.6, "60-64" = 1.3)[d$age_band] + 0.2 * (d$sex == "M") +
  c(never = 0, former = 0.2, current = 0.5)[d$smoking] + 0.4 * d$works_at_site -
  0.15 * log2(d$distance_km + 0.1)
d$events <- rpois(n, d$person_years * exp(lin + 1.5))
d$events_od <- rnbinom(n, mu = d$person_years * exp(lin + 1.5), size = 0.8)
d$wheeze <- rbinom(n, 1, plogis(-1.2 + 0.5 * (d$smoking == "current") + 0.3 * d$works_at_site))
d$age_band <- factor(d$age_band, levels = c("20-24", "40-44", "60-64"))
d$smoking <- factor(d$smoking, levels = c("never", "former", "current"))
tidy <- function(fit) {
  s <- summary(fit)$coefficients
  list(terms = rownames(s), coef = unname(s[, 1]), se = unname(s[, 2]), p = unname(s[, 4]))
}
pois <- glm(events ~ age_band + sex + smoking + works_at_site + offset(log(person_years)),
            family = poisson, data = d, control = glm.control(epsilon = 1e-12, maxit = 100))
pois_disp <- sum(residuals(pois, "pearson")^2) / pois$df.residual
nb <- glm.nb(events_od ~ age_band + sex + smoking + works_at_site + offset(log(person_years)),
             data = d, control = glm.control(epsilon = 1e-12, maxit = 100))
pois_od <- glm(events_od ~ age_band + sex + smoking + works_at_site + offset(log(person_years)),
               family = poisson, data = d)
logit <- glm(wheeze ~ smoking + works_at_site + sex, family = binomial, data = d,
             control = glm.control(epsilon = 1e-12, maxit = 100))
decay <- glm(events ~ I(log2(distance_km + 0.1)) + age_band + sex + offset(log(person_years)),
             family = poisson, data = d, control = glm.control(epsilon = 1e-12, maxit = 100))
# ordered exposure categories (e.g. distance bands, nearest first)
tr_y <- c(30, 22, 18, 9); tr_t <- c(4000, 4200, 5100, 3900); tr_s <- c(1, 3, 7.5, 15)
trend <- glm(tr_y ~ tr_s + offset(log(tr_t)), family = poisson,
             control = glm.control(epsilon = 1e-12))
pt <- prop.trend.test(c(15, 12, 9, 4), c(80, 85, 90, 88))
pt_scored <- prop.trend.test(c(15, 12, 9, 4), c(80, 85, 90, 88), score = c(1, 3, 7.5, 15))
d$age_band <- as.character(d$age_band); d$smoking <- as.character(d$smoking)
write_json(list(versions = ver, data = d,
  poisson = c(tidy(pois), dispersion = pois_disp, aic = pois$aic),
  poisson_od_dispersion = sum(residuals(pois_od, "pearson")^2) / pois_od$df.residual,
  negbin = c(tidy(nb), theta = nb$theta, loglik = as.numeric(logLik(nb))),
  logistic = c(tidy(logit), aic = logit$aic),
  decay = tidy(decay),
  trend = c(list(events = tr_y, person_time = tr_t, scores = tr_s), tidy(trend)),
  prop_trend = list(cases = c(15, 12, 9, 4), totals = c(80, 85, 90, 88),
                    chi2 = unname(pt$statistic), p = pt$p.value,
                    chi2_scored = unname(pt_scored$statistic), p_scored = pt_scored$p.value)),
  file.path(out_dir, "regression.json"), auto_unbox = TRUE, digits = NA, dataframe = "columns")
cat("wrote regression.json\n")
