# Provenance of tests/analytics/stats/data/ny_leukemia.csv and golden/scan_ny_leukemia.json.
#
# Data: the New York leukaemia data of Waller & Gotway (2004), 281 census tracts, as shipped in
# the R package smerc (data/nydf.rda, smerc 1.8.4, GPL >= 2; longitude/latitude from
# SpatialEpi's NYleukemia). smerc is not packaged for Debian, so the .rda was read from the
# smerc source tree: Rscript tests/analytics/stats/r/scan_ny_leukemia.R path/to/nydf.rda
#
# Golden values: NOT computed here. They are the published expectations of smerc's own test
# suite (tests/testthat/test-scan.test.R, "check accuracy for scan.test with SatScan for NY
# data"): scan.test(coords = cbind(longitude, latitude), cases = floor(cases), pop = population,
# longlat = FALSE, ubpop = 0.1), clusters 1, 2 and 7, with SaTScan's p-values quoted in its
# comments (0.001, 0.013, 0.976). They are copied into the JSON with that source.
args <- commandArgs(trailingOnly = TRUE)
if (!length(args)) {
  cat("scan_ny_leukemia.R: skipped (give the path of smerc's data/nydf.rda)\n")
  quit(status = 0)
}
load(args[1])
con <- file("tests/analytics/stats/data/ny_leukemia.csv", "w")
writeLines("longitude,latitude,population,cases", con)
writeLines(sprintf("%.17g,%.17g,%.17g,%.17g", nydf$longitude, nydf$latitude,
                   nydf$population, nydf$cases), con)
close(con)
cat("wrote ny_leukemia.csv\n")
