"""Index constants of the packed arrays shared by the numpy and the numba step.

State lives in a few packed arrays so that both backends read and write the same memory:
member state ``ms[var, s, i]``, simulation state ``ss[var, s]``, per-simulation constants
``sc[var, s]``, per-(simulation, member) constants ``mc[var, s, i]``, member constants
``mf[var, i]``, the per-step record ``rec[var, k, s]``, the block's scalar constants
``qs[Q_*]`` and the parameter columns ``pg[P_*, s]``.
"""

from __future__ import annotations

from alliance_risk.models.parameters import GLOBAL_NAMES

# member state ms[var, s, i]
MS_Y, MS_B, MS_K, MS_U, MS_P, MS_G, MS_M, MS_DIS, MS_NOTICE, MS_TURNED, MS_MPREV, MS_C = range(12)
N_MS = 12

# simulation state ss[var, s]; SS_YA is the adversary's log GDP, SS_DISPUTE whether an
# intra-alliance dispute (E15b) has happened, SS_LOGA the log of adversary spending A
(
    SS_A,
    SS_KA,
    SS_H,
    SS_F,
    SS_RHO,
    SS_QPAND,
    SS_ALIVE,
    SS_LLOW,
    SS_WAR,
    SS_FPREV,
    SS_NPAND,
    SS_YA,
    SS_DISPUTE,
    SS_LOGA,
) = range(14)
N_SS = 14

# per-simulation constants sc[var, s]: derived from the parameter table at set-up
(
    SC_PGOV,
    SC_PRESC,
    SC_PPART,
    SC_PRET,
    SC_PDISS,
    SC_PPAND,
    SC_PHIU,
    SC_SDU,
    SC_QP,
    SC_PSLIP,
    SC_LOGITC,
    SC_LCYB,
    SC_LJ,
    SC_KA0,
    SC_CV0,
    SC_C0,
    SC_MPROX,
    SC_TARGET,
    SC_FLOW0,
    SC_P0CYB,
    SC_P0J,
    SC_LCEIL,
    SC_DYADF,
) = range(23)
N_SC = 23

# per-(simulation, member) constants mc[var, s, i]
# MC_LOC: weight of the member's capability in the local balance (E12, model 2)
MC_PROX, MC_GAMMA0, MC_GROWTH, MC_TAU0, MC_BBAR0, MC_HMULT, MC_LOC = range(7)
N_MC = 7

# member constants mf[var, i]; MF_CAL: 1 where the government changes only at scheduled
# elections (calendar mode of E6, applied by ``models.events``), not at the hazard h_gov
MF_B0, MF_PBAR, MF_FORCES, MF_ISHEG, MF_CAL = range(5)
N_MF = 5

# per-step record rec[var, k, s], k = 0..steps (state after k updates); REC_MEET + j counts
# the active members at or above the j-th report threshold
(
    REC_ALIVE,
    REC_NMEM,
    REC_HEGMEM,
    REC_COH,
    REC_CRED,
    REC_RET,
    REC_BAL,
    REC_HHI,
    REC_SPEND,
    REC_BURDEN,
    REC_ADV,
    REC_HOST,
    REC_FRIC,
    REC_HWAR,
    REC_ARMS,
    REC_NPAND,
    REC_MEET,
) = range(17)
REC_NAMES = (
    "alive",
    "members",
    "hegemon_member",
    "cohesion",
    "credibility",
    "retention",
    "local_balance",
    "hhi",
    "alliance_spending",
    "alliance_burden",
    "adversary_spending",
    "hostility",
    "friction",
    "conflict_hazard",
    "arms_race",
    "pandemics",
)

# per-simulation events ev[var, s] (float; NEVER where the event did not happen)
(
    EV_DISS_STEP,
    EV_DISS_CAUSE,
    EV_ONSET_STEP,
    EV_TARGET,
    EV_HONOUR,
    EV_HONOUR_W,
    EV_HEG_HONOUR,
    EV_DISPUTE_STEP,
) = range(8)
N_EV = 8
EV_NAMES = (
    "dissolution_step",
    "dissolution_cause",
    "onset_step",
    "onset_target",
    "honour_rate",
    "honour_rate_capability",
    "hegemon_honours",
    "dispute_step",
)

# per-member events em[var, s, i] (int16; NEVER where the event did not happen)
EM_WD_STEP, EM_NOTICE_STEP = range(2)
N_EM = 2

# member snapshot snap[var, s, i] at record time, for observers and member traces
SNAP_ACTIVE, SNAP_DIS, SNAP_B, SNAP_C, SNAP_G, SNAP_GDP = range(6)
N_SNAP = 6

# per-member summary over simulations at each record step: msum[var, k, i] (float64 sums;
# counts are exact integers) and a burden histogram mhist[k, i, bin]
(MSUM_ACTIVE, MSUM_DIS, MSUM_SCEPT, MSUM_MEETS, MSUM_C, MSUM_C2, MSUM_B, MSUM_B2) = range(8)
N_MSUM = 8
MSUM_NAMES = (
    "n_active",
    "n_disengaged",
    "n_sceptical",
    "n_meets_target",
    "commitment_sum",
    "commitment_sumsq",
    "burden_sum",
    "burden_sumsq",
)

NEVER = 32767  # event step meaning "not within the horizon"

# dissolution causes
CAUSE_NONE, CAUSE_EXOGENOUS, CAUSE_COHESION, CAUSE_CAPABILITY, CAUSE_MEMBERS = range(5)
CAUSE_NAMES = ("none", "exogenous", "low_cohesion", "capability_loss", "too_few_members")

# noise layout of one update: member normals zm[4, s, i], member uniforms um[4, s, i],
# simulation normals zs[6, s], simulation uniforms us[6, s]. UM_PART serves two rare,
# disjoint events: partial disengagement (u < p_part) and burden slippage (u > 1 - p_slip).
ZM_GDP, ZM_U, ZM_P, ZM_B = range(4)
UM_GOV, UM_ORIENT, UM_NOTICE, UM_PART = range(4)
ZS_GDP, ZS_H, ZS_JUMP, ZS_A, ZS_F, ZS_YA = range(6)
US_PAND, US_CYBER, US_CRISIS, US_DISS, US_ONSET, US_DYAD = range(6)
N_ZM, N_UM, N_ZS, N_US = 4, 4, 6, 6
# initial draws, in a StepNoise: zm[0] the allies' own honour normals, um[0] the uniforms of
# the initial government orientation, zs[0] the common honour factor (Article 5 copula)

# columns of the global parameters in the parameter table: P["threat_burden"], and the same
# as module constants for the compiled step, P_THREAT_BURDEN (numba reads module constants)
P = {name: j for j, name in enumerate(GLOBAL_NAMES)}
for _name, _j in P.items():
    globals()[f"P_{_name.upper()}"] = _j

# scalar constants of a block, setup.qs[Q_*] (float64)
(
    Q_A0,
    Q_LOGA0,
    Q_AGROWTH,
    Q_HBAR,
    Q_RHOMIN,
    Q_BMIN,
    Q_BMAX,
    Q_ARMS,
    Q_THETAC,
    Q_KMIN,
    Q_NMIN,
    Q_QREF,
    Q_RREF,
    Q_GUIDE,
    Q_HOLD,
    Q_SWTB,
    Q_SWBF,
    Q_SWFW,
    Q_SWPW,
    Q_SWPOW,
    Q_SWTW,
    Q_SWCD,
    Q_SWAR,
) = range(23)
N_Q = 23
