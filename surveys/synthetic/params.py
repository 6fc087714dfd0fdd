"""The true parameters of the synthetic community. truth.json records every one of them.

Models (per routine visit unless stated):
- ``symptom.cough``: log-linear prevalence
  ``p = P0 * RR_band * AGE_RR ** ((age - 40) / 10) * RR_smoking`` -- the planted dose-response.
  Near areas are older and smoke more, so the crude near/far ratio is biased upwards.
- ``symptom.wheeze``: ``p = P0 * (1 + APC/100) ** (year - start_year) * RR_smoking`` -- the
  planted annual trend.
- biomarkers: log-normal,
  ``log(x) = log(GM_far * GMR_band [* smoking ratio]) + u_person + e_visit``,
  reported below the LOD with an empty value.
- acute respiratory diagnoses (``dx.J06``/``dx.J20``): at most one acute-care visit per resident
  and Monday-start week, with probability ``WEEKLY_RISK * age factor * season(week)`` and an
  outbreak multiplier in one area during a few weeks.
"""

from __future__ import annotations

from typing import Final

# --- enrollment, attrition, population ------------------------------------------------------
SAMPLING_FRACTION: Final = 0.30  # residents enrolled over the period / area population
BASELINE_ENROLLMENT_SHARE: Final = 0.60  # enrolled in the baseline campaign (first 120 days)
BASELINE_CAMPAIGN_DAYS: Final = 120
ANNUAL_RETENTION: Final = 0.93  # probability of staying in follow-up from one year to the next
POPULATION_GROWTH: Final = 0.006  # per year
POPULATION_NOISE_SD: Final = 0.03  # log-scale noise on the denominators
ROUTINE_VISIT_JITTER_DAYS: Final = 21.0  # sd of the yearly visit around the anniversary

CURRENT_SMOKING = {"near": 0.36, "middle": 0.24, "far": 0.13}  # adults (15+)
UNKNOWN_SMOKING: Final = 0.03  # adults
FORMER_SMOKING_BASE: Final = 0.08  # + 0.004 per year of age above 15, at most 0.35
WORKS_AT_SITE = {"near": 0.28, "middle": 0.12, "far": 0.04}  # ages 18-64

# --- planted effect 1: respiratory dose-response (symptom.cough) -----------------------------
COUGH_CODE: Final = "symptom.cough"
COUGH_P0: Final = 0.07  # far band, age 40, never smoker
COUGH_RR_BAND = {"near": 1.8, "middle": 1.3, "far": 1.0}
COUGH_AGE_RR_PER_10Y: Final = 1.12
COUGH_RR_SMOKING = {"never": 1.0, "former": 1.3, "current": 2.0, "unknown": 1.3}

# --- planted effect 4: annual trend (symptom.wheeze) ----------------------------------------
TREND_CODE: Final = "symptom.wheeze"
TREND_P0: Final = 0.06  # first study year, never smoker
TREND_APC: Final = 8.0  # annual percent change
TREND_RR_SMOKING = {"never": 1.0, "former": 1.2, "current": 1.6, "unknown": 1.2}

# --- other symptoms: no planted effect (negative controls) ----------------------------------
OTHER_SYMPTOMS = {
    "symptom.dyspnoea": 0.05,
    "symptom.eye_irritation": 0.06,
    "symptom.headache": 0.08,
    "symptom.skin_rash": 0.04,
}

# --- planted effect 2 and other biomarkers ---------------------------------------------------
# code: (unit, GM far band, GMR near, GMR middle, sd person (log), sd visit (log), LOD,
#        decimals, share of routine visits with the test, GM ratio for current smokers)
BIOMARKERS: dict[str, tuple[str, float, float, float, float, float, float, int, float, float]] = {
    "lab.blood_lead": ("µg/dL", 1.0, 1.6, 1.25, 0.45, 0.30, 0.5, 2, 1.0, 1.0),
    "lab.urine_thorium": ("µg/L", 0.02, 2.0, 1.4, 0.50, 0.50, 0.01, 4, 1.0, 1.0),
    "lab.urine_uranium": ("µg/L", 0.008, 1.3, 1.1, 0.60, 0.50, 0.005, 4, 1.0, 1.0),
    "lab.urine_cadmium": ("µg/L", 0.25, 1.2, 1.05, 0.50, 0.30, 0.05, 3, 1.0, 1.6),
    "lab.urine_fluoride": ("mg/L", 0.7, 1.4, 1.15, 0.30, 0.25, 0.05, 3, 0.2, 1.0),
    "lab.blood_manganese": ("µg/L", 9.0, 1.0, 1.0, 0.25, 0.15, 1.0, 2, 0.2, 1.0),
}
GM_RATIO_CODES: Final = ("lab.blood_lead", "lab.urine_thorium")

# --- vitals ----------------------------------------------------------------------------------
BMI_ADULT_MEAN: Final = 27.0
BMI_ADULT_SD: Final = 4.5
FEV1_MEAN: Final = 98.0
FEV1_PERSON_SD: Final = 10.0
FEV1_VISIT_SD: Final = 4.0
FEV1_SMOKING = {"never": 0.0, "former": -3.0, "current": -7.0, "unknown": -2.0}

# --- new chronic diagnoses (recorded once, as ``true``, at a routine visit) -----------------
# code: (annual probability, minimum age, ratio for current smokers, ratio for ages < 15)
CHRONIC_DX: dict[str, tuple[float, int, float, float]] = {
    "dx.C34": (0.0008, 45, 5.0, 1.0),
    "dx.J44": (0.004, 40, 3.0, 1.0),
    "dx.J45": (0.006, 0, 1.3, 2.0),
    "dx.L30": (0.008, 0, 1.0, 1.0),
    "dx.N18": (0.004, 50, 1.2, 1.0),
}

# --- planted effect 3: weekly acute respiratory diagnoses and one outbreak ------------------
ACUTE_CODES: Final = ("dx.J06", "dx.J20")
ACUTE_J20_SHARE: Final = 0.25
ACUTE_WEEKLY_RISK: Final = 0.0058  # ages 15-64, at the seasonal average
ACUTE_AGE_RR = {"0-14": 2.5, "15-64": 1.0, "65+": 1.5}
ACUTE_SEASON_AMPLITUDE: Final = 0.6  # season(w) = 1 + A cos(2 pi (t - peak) / 365.25)
ACUTE_SEASON_PEAK_DAY: Final = 15  # day of year of the seasonal peak (mid January)
OUTBREAK_AREA: Final = "A05"
OUTBREAK_CONTROL_AREA: Final = "A04"
OUTBREAK_ISO_WEEK: Final = 41  # first ISO week of the outbreak, in the last study year
OUTBREAK_WEEKS: Final = 4
OUTBREAK_RATE_RATIO: Final = 3.0
