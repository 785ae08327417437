# Functions of the multi-level family's rules (multilevel.smk): its targets.


def multilevel_targets():
    if not EXPERIMENTS:
        return []
    return experiment_targets("multilevel") + ["results/tables/experiments.csv"]
