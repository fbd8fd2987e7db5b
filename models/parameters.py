"""The registry of the model's uncertain inputs: names, symbols, domains, units.

The order of ``GLOBAL`` and ``PER_MEMBER`` fixes the order of the columns of the sampled
parameter table (global parameters first, then each per-member parameter for every member
in scenario order, named ``growth[USA]``). That order is part of the stored-data contract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

INF = math.inf


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    symbol: str
    low: float  # domain, inclusive
    high: float
    unit: str
    description: str

    @property
    def domain(self) -> tuple[float, float, str]:
        """The finite range the model is meant for, with the reason: the mathematical
        domain (``low``, ``high``) cut by ``MODEL_DOMAIN`` of the parameter or its unit."""
        lo, hi, why = MODEL_DOMAIN.get(self.name) or MODEL_DOMAIN[self.unit]
        return max(lo, self.low), min(hi, self.high), why


# Where a parameter's mathematical domain is unbounded, the range the model is meant for:
# beyond it, a draw is an input error (a typo such as sd = 1e308), not a forecast.
_EXP = "it acts through exp(): beyond ±50, float32 hazards overflow (e^88.7)"
MODEL_DOMAIN: dict[str, tuple[float, float, str]] = {
    "1": (-50, 50, f"a dimensionless effect; {_EXP}"),
    "logit": (-50, 50, f"a logit effect; {_EXP}"),
    "1/yr": (-100, 100, "a rate of 100 a year is an event every 4 days, finer than any step"),
    "1/sqrt(yr)": (0, 5, "a volatility of 5/sqrt(yr) moves a state by 250% in a quarter"),
    "pp": (-100, 100, "percentage points of GDP"),
    "pp/sqrt(yr)": (0, 100, "percentage points of GDP"),
    "km": (0, 20_037, "half the Earth's circumference"),
    "% of GDP": (0, 100, "a share of GDP"),
    "quarters": (0, 400, "the longest horizon"),
    "growth": (-0.5, 0.5, "real GDP growth beyond ±50% a year is outside any peacetime record"),
    "sceptic_hazard_ratio": (0, 1e4, "a ratio of two hazards above 10,000"),
}


def _p(name, symbol, low, high, unit, description):
    return ParameterSpec(name, symbol, low, high, unit, description)


GLOBAL: tuple[ParameterSpec, ...] = (
    # economy (E2)
    _p("gdp_volatility", "σ_Y", 0, 1, "1/sqrt(yr)", "volatility of log GDP growth"),
    _p("gdp_common_share", "ρ_Y", 0, 1, "1", "share of GDP-growth variance common to all members"),
    # burden sharing (E7)
    _p(
        "burden_adjustment",
        "κ",
        0,
        INF,
        "1/yr",
        "partial-adjustment speed of burden to its desired level",
    ),
    _p("target_pull", "λ_T", 0, INF, "1/yr", "pull of the spending target on members below it"),
    _p(
        "sceptic_compliance",
        "π_skep",
        0,
        1,
        "1",
        "target compliance of a sceptical government, relative",
    ),
    _p(
        "threat_burden",
        "β_τ",
        0,
        INF,
        "pp",
        "desired-burden response per unit of perceived-threat rise",
    ),
    _p("free_riding", "β_FR", -1, 1, "1", "spill-in elasticity of burden to allies' burden"),
    _p("burden_volatility", "σ_b", 0, INF, "pp/sqrt(yr)", "burden innovation"),
    _p("capability_depreciation", "δ_K", 1e-6, INF, "1/yr", "depreciation of capability stocks"),
    # threat perception (E4)
    _p("proximity_scale", "d0", 1e-6, INF, "km", "distance scale of proximity exp(-d/d0)"),
    _p("frontline_bonus", "ζ", 0, INF, "1", "proximity added for frontline members"),
    _p("threat_power_elasticity", "ω", 0, INF, "1", "elasticity of threat to adversary spending"),
    _p(
        "threat_reversion",
        "θ_u",
        0,
        INF,
        "1/yr",
        "mean reversion of idiosyncratic threat perception",
    ),
    _p(
        "threat_volatility",
        "σ_u",
        0,
        INF,
        "1",
        "stationary s.d. of idiosyncratic threat perception",
    ),
    # adversary intentions and shocks (E1, E3)
    _p("hostility_reversion", "θ_H", 0, INF, "1/yr", "mean reversion of adversary hostility"),
    _p("hostility_volatility", "σ_H", 0, INF, "1/sqrt(yr)", "volatility of hostility"),
    _p("crisis_rate", "λ_J", 0, INF, "1/yr", "rate of crises (jumps in hostility)"),
    _p("crisis_mean", "μ_J", -INF, INF, "1", "mean jump in hostility per crisis"),
    _p("crisis_sd", "s_J", 0, INF, "1", "s.d. of the jump in hostility per crisis"),
    _p("cyber_rate", "λ_cyb", 0, INF, "1/yr", "rate of hybrid/cyber incidents"),
    _p("cyber_impact", "η_cyb", 0, INF, "1", "hostility increment per incident"),
    # adversary arms (E9, model 2: in logs, every response non-negative)
    _p(
        "adversary_fatigue",
        "a_A",
        0,
        INF,
        "1/yr",
        "reversion of adversary log spending to its trend (Richardson fatigue)",
    ),
    _p(
        "adversary_reactivity",
        "k_A",
        0,
        INF,
        "1/yr",
        "adversary spending growth per unit of log alliance spending change",
    ),
    _p(
        "adversary_hostility_effect",
        "β_AH",
        0,
        INF,
        "1/yr",
        "adversary spending growth per unit of hostility H",
    ),
    _p(
        "adversary_volatility",
        "σ_A",
        0,
        INF,
        "1/sqrt(yr)",
        "volatility of adversary log spending",
    ),
    _p("adversary_ceiling", "b_max,A", 1e-6, 100, "% of GDP", "soft ceiling on adversary spending"),
    _p("adversary_gdp_growth", "g_YA", -1, 1, "1/yr", "trend real GDP growth of the adversary"),
    _p(
        "adversary_gdp_volatility",
        "σ_YA",
        0,
        1,
        "1/sqrt(yr)",
        "volatility of the adversary's log GDP",
    ),
    # domestic politics (E5, E6)
    _p(
        "government_change_rate",
        "h_gov",
        0,
        INF,
        "1/yr",
        "hazard of an alliance-relevant government change",
    ),
    _p(
        "government_support_effect",
        "γ1",
        -INF,
        INF,
        "1",
        "effect of public support on a new government's orientation",
    ),
    _p("support_reversion", "θ_P", 0, INF, "1/yr", "mean reversion of public support (logit)"),
    _p("support_volatility", "σ_P", 0, INF, "1/sqrt(yr)", "volatility of public support (logit)"),
    _p(
        "support_threat_rally",
        "β_Pτ",
        0,
        INF,
        "1",
        "rally in support per unit rise of the threat multiplier",
    ),
    _p(
        "support_friction_effect",
        "β_PF",
        0,
        INF,
        "1",
        "fall in hegemon's support per unit rise of friction",
    ),
    # withdrawal (E13)
    _p(
        "withdrawal_base_hazard",
        "h0",
        0,
        INF,
        "1/yr",
        "baseline hazard of a withdrawal notice per member",
    ),
    _p(
        "sceptic_hazard_ratio",
        "HR_skep",
        0,
        INF,
        "1",
        "hazard ratio, sceptical vs pro-alliance government",
    ),
    _p(
        "support_hazard_effect",
        "β_P",
        0,
        INF,
        "1",
        "hazard elasticity to support below baseline (logit)",
    ),
    _p("friction_hazard_effect", "β_F", 0, INF, "1", "hegemon hazard elasticity to friction"),
    _p(
        "power_hazard_effect",
        "β_pow",
        0,
        INF,
        "1",
        "hazard elasticity to the 1-year change of capability share",
    ),
    _p(
        "threat_hazard_effect",
        "β_τw",
        0,
        INF,
        "1",
        "hazard reduction per unit of perceived-threat rise",
    ),
    _p(
        "hegemon_exit_pass",
        "p_pass",
        0,
        1,
        "1",
        "probability a hegemon's exit attempt clears its legislature",
    ),
    _p(
        "rescission_rate",
        "r_resc",
        0,
        INF,
        "1/yr",
        "rescission of a notice after a pro-alliance government returns",
    ),
    _p("disengagement_rate", "h_part", 0, INF, "1/yr", "hazard of partial disengagement"),
    _p("return_rate", "h_ret", 0, INF, "1/yr", "hazard of return to the integrated structure"),
    _p("disengaged_contribution", "ω_dis", 0, 1, "1", "capability contribution when disengaged"),
    _p(
        "hegemon_presence",
        "φ_fwd",
        0,
        1,
        "1",
        "share of the hegemon's capability based in the theatre (local balance)",
    ),
    _p(
        "slippage_rate",
        "h_slip",
        0,
        INF,
        "1/yr",
        "hazard that a compliant member lets its burden slip below a target it met",
    ),
    # commitment and cohesion (E11, E12)
    _p("commitment_base", "c̄", 0, 1, "1", "baseline probability of honouring Article 5"),
    _p(
        "commitment_government",
        "β_cG",
        0,
        INF,
        "logit",
        "commitment loss under a sceptical government",
    ),
    _p(
        "commitment_support",
        "β_cP",
        0,
        INF,
        "logit",
        "commitment gain per unit of support above baseline",
    ),
    _p(
        "commitment_threat",
        "β_cτ",
        0,
        INF,
        "logit",
        "commitment gain per unit rise of the threat multiplier",
    ),
    _p(
        "commitment_friction",
        "β_cF",
        0,
        INF,
        "logit",
        "hegemon's commitment loss per unit of friction",
    ),
    _p("commitment_disengaged", "β_dis", 0, INF, "logit", "commitment loss when disengaged"),
    _p(
        "cohesion_divergence",
        "ψ",
        0,
        INF,
        "1",
        "cohesion penalty for rising divergence of threat perceptions",
    ),
    # conflict onset (E15)
    _p("war_base_hazard", "h_war0", 0, INF, "1/yr", "baseline hazard of an attack on the alliance"),
    _p("war_hostility", "β_H", 0, INF, "1", "attack-hazard elasticity to hostility"),
    _p("war_credibility", "β_Q", 0, INF, "1", "attack-hazard elasticity to (1 - credibility)"),
    _p("war_balance", "β_R", 0, INF, "1", "attack-hazard elasticity to the local balance"),
    _p(
        "war_arms_race",
        "β_arms",
        0,
        INF,
        "1",
        "relative rise of the attack hazard during an arms race",
    ),
    _p(
        "honour_correlation",
        "ρ_hon",
        0,
        0.999,
        "1",
        "correlation of the allies' Article 5 decisions (Gaussian copula)",
    ),
    _p(
        "dyad_base_hazard",
        "h_dyad0",
        0,
        INF,
        "1/yr",
        "hazard of a militarised dispute in a designated member dyad, outside an alliance",
    ),
    _p(
        "dyad_membership_effect",
        "β_inst",
        0,
        INF,
        "1",
        "log reduction of the dyad's dispute hazard while both are members",
    ),
    # dissolution, friction, geopolitics, shocks (E1, E10, E14)
    _p(
        "dissolution_hazard", "h_diss", 0, INF, "1/yr", "exogenous hazard of collective dissolution"
    ),
    _p(
        "friction_gain",
        "φ_F",
        0,
        INF,
        "1/yr",
        "build-up of hegemon friction per unit of allies' shortfall",
    ),
    _p("friction_reversion", "θ_F", 0, INF, "1/yr", "decay of hegemon friction"),
    _p("friction_volatility", "σ_F", 0, INF, "1/sqrt(yr)", "volatility of hegemon friction"),
    _p(
        "pivot_rate",
        "r_pivot",
        0,
        INF,
        "1/yr",
        "decline of the hegemon's capability available to the theatre",
    ),
    _p("pandemic_rate", "h_pand", 0, INF, "1/yr", "hazard of a pandemic"),
    _p("pandemic_gdp_loss", "L_pand", 0, 0.99, "1", "GDP level lost in a pandemic"),
    _p(
        "pandemic_quarters",
        "Q_pand",
        0,
        400,
        "quarters",
        "length of the fiscal squeeze after a pandemic",
    ),
    _p(
        "pandemic_squeeze", "φ_pand", 0, 1, "1", "reduction of burden adjustment during the squeeze"
    ),
)

PER_MEMBER: tuple[ParameterSpec, ...] = (
    _p("growth", "g_i", -INF, INF, "1/yr", "trend real GDP growth of the member"),
    _p("sceptical_share", "s_skep,i", 0, 1, "1", "stationary share of sceptical governments"),
)

GLOBAL_NAMES: tuple[str, ...] = tuple(p.name for p in GLOBAL)
PER_MEMBER_NAMES: tuple[str, ...] = tuple(p.name for p in PER_MEMBER)
SPECS: dict[str, ParameterSpec] = {p.name: p for p in GLOBAL + PER_MEMBER}


# Every global input at a neutral value: with all couplings off, only the hazards and
# processes a caller sets move (the analytic tests; the hindcast's generic alliance).
NEUTRAL: dict[str, float] = {name: 0.0 for name in GLOBAL_NAMES} | {
    "gdp_common_share": 0.5,
    "capability_depreciation": 0.1,
    "proximity_scale": 1000.0,
    "threat_reversion": 0.5,
    "adversary_fatigue": 0.3,
    "adversary_ceiling": 10.0,
    "government_support_effect": 1.0,
    "sceptic_hazard_ratio": 1.0,
    "hegemon_exit_pass": 1.0,
    "disengaged_contribution": 0.5,
    "commitment_base": 0.75,
    "pandemic_quarters": 4.0,
    "hegemon_presence": 0.1,
}
