# Goldens for aberration.glr_poisson: surveillance::algo.glrpois (the GLR Poisson CUSUM for a
# change in the intercept; Höhle & Paul 2008), direction "inc", known in-control means mu0.
# Run from the repository root:  Rscript tests/analytics/stats/r/glrpois.R
suppressPackageStartupMessages({library(surveillance); library(jsonlite)})
out_dir <- "tests/analytics/stats/golden"
ver <- list(R = R.version.string, surveillance = as.character(packageVersion("surveillance")))
set.seed(18)
n <- 156
t <- seq_len(n)
mu0 <- 4 * exp(0.5 * sin(2 * pi * t / 52))            # seasonal in-control mean
slow <- ifelse(t > 100, exp(0.012 * (t - 100)), 1)    # a slow rise from week 101
y1 <- rpois(n, mu0 * slow)
y2 <- rpois(n, mu0)                                   # in control
y3 <- rpois(n, mu0 * ifelse(t %in% 60:70, 2.2, 1))    # a step, then back
mu_flat <- rep(1.5, n)
y4 <- rpois(n, mu_flat * ifelse(t > 120, 1.8, 1))     # sparse counts with a late rise
series <- list(y1 = y1, y2 = y2, y3 = y3, y4 = y4)
means <- list(y1 = mu0, y2 = mu0, y3 = mu0, y4 = mu_flat)
run <- function(name, c_arl, M = -1, Mtilde = 1) {
  y <- series[[name]]; m <- means[[name]]
  dp <- create.disProg(week = seq_along(y), observed = y, state = rep(0, length(y)))
  ctl <- function(ret) list(range = seq_along(y), c.ARL = c_arl, mu0 = m, M = M,
                            Mtilde = Mtilde, change = "intercept", dir = "inc", ret = ret)
  v <- algo.glrpois(dp, control = ctl("value"))
  k <- algo.glrpois(dp, control = ctl("cases"))
  list(series = name, c_arl = c_arl, M = M, Mtilde = Mtilde,
       value = as.numeric(v$upperbound), cases = as.numeric(k$upperbound),
       alarm = as.logical(v$alarm), alarm_cases = as.logical(k$alarm))
}
cases <- list(run("y1", 5), run("y2", 5), run("y3", 5), run("y3", 3), run("y4", 4),
              run("y1", 5, M = 26), run("y3", 3, M = 10, Mtilde = 2))
write_json(list(versions = ver, series = series, mu0 = means, cases = cases),
           file.path(out_dir, "glrpois.json"), auto_unbox = TRUE, digits = NA)
cat("wrote glrpois.json\n")
