# Goldens for analytics/stats/aberration.py (surveillance 1.20.3).
# Run from the repository root:  Rscript tests/analytics/stats/r/aberration.R
suppressPackageStartupMessages({library(surveillance); library(jsonlite)})
out_dir <- "tests/analytics/stats/golden"
ver <- list(R = R.version.string, surveillance = as.character(packageVersion("surveillance")))

set.seed(20260101)
wk <- 1:312
s1 <- rnbinom(312, mu = 8 + 4 * sin(2 * pi * wk / 52), size = 4)
s1[290:293] <- s1[290:293] + c(12, 18, 15, 9)                     # an outbreak
s2 <- rpois(312, 0.9 + 0.5 * cos(2 * pi * wk / 52))               # sparse counts
wk3 <- 1:364
s3 <- rpois(364, exp(1.2 + 0.004 * wk3 + 0.4 * sin(2 * pi * wk3 / 52)))  # trend, 7 years
s3[350:352] <- s3[350:352] + c(10, 14, 8)
pop3 <- round(10000 * (1 + 0.002 * wk3))
series <- list(s1 = s1, s2 = s2, s3 = s3)

ff_configs <- list(
  default = list(),
  noufaily = list(noPeriods = 10, pastWeeksNotIncluded = 26, thresholdMethod = "nbPlugin"),
  muan = list(noPeriods = 10, pastWeeksNotIncluded = 26, thresholdMethod = "muan"),
  noreweight_notrend = list(reweight = FALSE, trend = FALSE, alpha = 0.01, b = 3, w = 2),
  sqrt_trans = list(powertrans = "1/2", limit54 = c(3, 3), weightsThreshold = 1),
  periods_short = list(noPeriods = 4, pastWeeksNotIncluded = 5, alpha = 0.1)
)
run_ff <- function(y, ctrl, pop = NULL) {
  s <- if (is.null(pop)) sts(observed = y, frequency = 52) else
    sts(observed = y, frequency = 52, population = matrix(pop, ncol = 1))
  ctrl$glmWarnings <- FALSE
  r <- farringtonFlexible(s, control = ctrl)
  list(observed = as.numeric(observed(r)), upperbound = as.numeric(upperbound(r)),
       alarm = as.logical(alarms(r)), expected = as.numeric(r@control$expected),
       score = as.numeric(r@control$score), pvalue = as.numeric(r@control$pvalue))
}
ff <- list()
for (sn in names(series)) for (cn in names(ff_configs)) {
  ff[[paste(sn, cn, sep = ":")]] <- c(list(series = sn, config = cn, control = ff_configs[[cn]]),
                                      run_ff(series[[sn]], ff_configs[[cn]]))
}
ff[["s3:population"]] <- c(list(series = "s3", config = "population",
                                control = list(populationOffset = TRUE)),
                           run_ff(s3, list(populationOffset = TRUE), pop3))

## Corrected variants: patch the two defects and rerun (documented in docs/methods.md).
ns <- asNamespace("surveillance")
g <- paste(deparse(get("algo.farrington.glm", ns)), collapse = "\n")
# move `dispersion = model$phi` out of newdata and into predict.glm's own argument
g <- gsub(",\\s*dispersion = model\\$phi\\)", ")", g)
g <- gsub("se.fit = TRUE", "se.fit = TRUE, dispersion = model$phi", g, fixed = TRUE)
stopifnot(lengths(regmatches(g, gregexpr("dispersion = model$phi", g, fixed = TRUE))) == 2)
g <- eval(parse(text = g)); environment(g) <- ns
# the refitted model's working weights are overwritten by the prior weights omega, so every
# later summary(model)$dispersion (prediction s.e., trend t-test) is computed with the wrong
# weights: drop that assignment
f <- paste(deparse(get("algo.farrington.fitGLM.flexible", ns)), collapse = "\n")
f2 <- sub("model$weights <- omega", "NULL", f, fixed = TRUE)
stopifnot(f2 != f)
f2 <- eval(parse(text = f2)); environment(f2) <- ns
h <- paste(deparse(get("algo.farrington.threshold.noufaily", ns)), collapse = "\n")
h2 <- gsub("\\(y - predFit\\)/\\(lu\\[2\\] -\\s*predFit\\)", "(y - exp(predFit))/(lu[2] - exp(predFit))", h)
stopifnot(h2 != h); h <- h2
h <- eval(parse(text = h)); environment(h) <- ns
unlockBinding("algo.farrington.glm", ns); assign("algo.farrington.glm", g, envir = ns)
unlockBinding("algo.farrington.fitGLM.flexible", ns); assign("algo.farrington.fitGLM.flexible", f2, envir = ns)
unlockBinding("algo.farrington.threshold.noufaily", ns); assign("algo.farrington.threshold.noufaily", h, envir = ns)
ff_fixed <- list()
for (sn in names(series)) for (cn in c("default", "noufaily", "muan", "noreweight_notrend")) {
  ff_fixed[[paste(sn, cn, sep = ":")]] <- c(list(series = sn, config = cn, control = ff_configs[[cn]]),
                                            run_ff(series[[sn]], ff_configs[[cn]]))
}

## EARS
ears_cfg <- list(C1 = list(method = "C1"), C2 = list(method = "C2"), C3 = list(method = "C3"),
                 C2_b10 = list(method = "C2", baseline = 10, minSigma = 0.5, alpha = 0.01),
                 C3_ms = list(method = "C3", minSigma = 1))
ears <- list()
for (sn in names(series)) for (cn in names(ears_cfg)) {
  if (sn == "s2" && !(cn %in% c("C2_b10", "C3_ms"))) next  # zero-variance windows give NA in R
  r <- earsC(sts(observed = series[[sn]], frequency = 52), control = ears_cfg[[cn]])
  ears[[paste(sn, cn, sep = ":")]] <- list(series = sn, config = cn, control = ears_cfg[[cn]],
    upperbound = as.numeric(upperbound(r)), alarm = as.logical(alarms(r)),
    n_monitored = nrow(r))
}
## EARS C3 as published (Hutwagner 2003): sum of max(0, C2 - 1) over t-2..t, alarm if > z
c3_published <- function(y, baseline = 7, alpha = 0.025, minSigma = 0) {
  n <- length(y); z <- qnorm(1 - alpha)
  c2 <- rep(NA_real_, n); mu <- c2; sdv <- c2
  for (t in (baseline + 3):n) { ref <- y[(t - baseline - 2):(t - 3)]
    mu[t] <- mean(ref); sdv[t] <- max(sd(ref), minSigma); c2[t] <- (y[t] - mu[t]) / sdv[t] }
  rng <- (baseline + 5):n; part <- pmax(0, c2 - 1)
  stat <- part[rng] + part[rng - 1] + part[rng - 2]
  ub <- pmax(0, mu[rng] + sdv[rng] * (1 + z - part[rng - 1] - part[rng - 2]))
  list(statistic = stat, upperbound = ub, alarm = stat > z)
}
ears_c3_published <- list(s1 = c3_published(s1), s3 = c3_published(s3),
                          s2_ms = c3_published(s2, minSigma = 1))

## CUSUM (algo.cusum, no reset)
cus <- list()
for (sn in c("s1", "s3")) for (tr in c("standard", "rossi", "anscombe")) {
  dp <- sts2disProg(sts(observed = series[[sn]], frequency = 52))
  r <- algo.cusum(dp, control = list(range = 261:length(series[[sn]]), trans = tr))
  cus[[paste(sn, tr, sep = ":")]] <- list(series = sn, trans = tr, start = 260,
    upperbound = as.numeric(r$upperbound), alarm = as.logical(r$alarm),
    cusum = as.numeric(r$cusum), m = r$control$m)
}
dp <- sts2disProg(sts(observed = s1, frequency = 52))
r <- algo.cusum(dp, control = list(range = 201:312, k = 0.5, h = 4, m = 8))
cus[["s1:custom"]] <- list(series = "s1", trans = "standard", start = 200, k = 0.5, h = 4, m = 8,
  upperbound = as.numeric(r$upperbound), alarm = as.logical(r$alarm), cusum = as.numeric(r$cusum))

write_json(list(versions = ver, series = list(s1 = s1, s2 = s2, s3 = s3, pop3 = pop3),
                farrington = ff, farrington_fixed = ff_fixed, ears = ears,
                ears_c3_published = ears_c3_published, cusum = cus),
           file.path(out_dir, "aberration.json"), auto_unbox = TRUE, digits = NA, na = "null")
cat("wrote aberration.json\n")
