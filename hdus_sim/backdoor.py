"""Old import path of the backdoor; its code is in two places.

Poisoning a planter's data is :mod:`clients.poisoning`; measuring the attack's success is
:mod:`hdus_sim.verification.backdoor`.
"""

from clients.poisoning import plant, stamp
from hdus_sim.verification.backdoor import attack_success, backdoor_stage_rates, backdoor_summary

__all__ = ["attack_success", "backdoor_stage_rates", "backdoor_summary", "plant", "stamp"]
