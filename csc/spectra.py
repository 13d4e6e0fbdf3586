"""Sentinel-2 surface-reflectance statistics of glacier surfaces, as constants.

Band order everywhere in this module is B4 red, B3 green, B2 blue, B8 NIR; values are
reflectance x 10000 (the Sentinel-2 L2A digital numbers without the 04.00 offset).

Derived once from ``s2-glacier-spectra/sentinel2_sr_points.csv`` (9,307 labelled points on
Gulkana, South Cascade and Sperry glaciers, 2021 scenes; Aberle et al., glacier-snow-cover-mapping,
MIT licence) with::

    d = pandas.read_csv("sentinel2_sr_points.csv")
    for cls in 1..5:                       # 1 snow, 2 shadowed snow, 3 ice, 4 rock, 5 water
        x = d.loc[d["class"] == cls, ["B4", "B3", "B2", "B8"]].to_numpy() * 10000
        mean, cov = x.mean(0), numpy.cov(x, rowvar=False)   # rounded to 0.1 and 1

The product never reads that file; these numbers are all it keeps of it.
"""
import numpy as np

BANDS = ("B4", "B3", "B2", "B8")

#: Number of labelled points behind each material's statistics.
POINTS = {"snow": 4622, "shadowed snow": 308, "ice": 1162, "rock": 3066, "water": 149}

#: Mean reflectance x 10000 per material, bands B4, B3, B2, B8.
MEANS = {
    "snow": np.array([7698.4, 7609.3, 7321.6, 6690.6]),
    "shadowed snow": np.array([3583.2, 4279.4, 4799.5, 2637.9]),
    "ice": np.array([3294.2, 3443.1, 3352.7, 2451.0]),
    "rock": np.array([1599.1, 1464.1, 1204.7, 1893.6]),
    "water": np.array([920.3, 1423.1, 1094.8, 286.1]),
}

#: 4x4 covariance of reflectance x 10000 per material, bands B4, B3, B2, B8.
COVARIANCES = {
    "snow": np.array([[2387410., 2620231., 2744596., 1765619.],
                      [2620231., 2932661., 3099830., 1877720.],
                      [2744596., 3099830., 3311425., 1941289.],
                      [1765619., 1877720., 1941289., 1434134.]]),
    "shadowed snow": np.array([[1958570., 2192581., 2369753., 1507501.],
                               [2192581., 2541556., 2802569., 1649740.],
                               [2369753., 2802569., 3153708., 1749705.],
                               [1507501., 1649740., 1749705., 1209674.]]),
    "ice": np.array([[1128048., 1162434., 1195148., 983951.],
                     [1162434., 1218779., 1257337., 992655.],
                     [1195148., 1257337., 1310634., 1018150.],
                     [983951., 992655., 1018150., 925632.]]),
    "rock": np.array([[284973., 231725., 185234., 252328.],
                      [231725., 213944., 188250., 188734.],
                      [185234., 188250., 186412., 128119.],
                      [252328., 188734., 128119., 369580.]]),
    "water": np.array([[194599., 183356., 70536., 43225.],
                       [183356., 188684., 86932., 43731.],
                       [70536., 86932., 58672., 29444.],
                       [43225., 43731., 29444., 36397.]]),
}

#: Per-band ratio of shadowed to sunlit snow: the share of light that reaches a surface in
#: terrain shadow (diffuse sky light, blue-rich), used as the illumination floor of every
#: material.
DIFFUSE_RATIO = MEANS["shadowed snow"] / MEANS["snow"]


def lognormal_parameters(material):
    """Mean vector and covariance of log reflectance whose exponential has exactly the
    tabulated mean and covariance of ``material`` (moment matching). Sampling in log space
    keeps reflectance positive and right-skewed like the measurements."""
    mean, cov = MEANS[material], COVARIANCES[material]
    log_cov = np.log1p(cov / np.outer(mean, mean))
    log_mean = np.log(mean) - np.diag(log_cov) / 2
    return log_mean, log_cov
