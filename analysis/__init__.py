"""Analysis of a run folder: what drives counting accuracy.

``python -m analysis runs/NAME`` (or ``run_analysis``) reads what ``study``
wrote (through ``study.run.runfolder``) and writes tables, figures and
``summary.json`` under ``runs/NAME/analysis/`` (docs/ANALYSIS.md). The
modules each own one concern: ``rundata`` (cells and configurations),
``stats`` (intervals and paired tests), ``comparisons``, ``attribution``
(Captum wrappers and model hygiene), ``localization``, ``interventions``,
``confounds``, ``probes``, ``baselines``, ``numerosity`` (count errors per
head, held-out counts, resolution, architectures), ``psychophysics`` (Weber
fits), ``units`` (number-selective units), ``instruments`` (both, per cell),
``verdict`` (page 1's rule: counts, reads ink or neither), ``tables``,
``figures``, ``findings`` (the words); the ``pipeline`` ties them together.

Importing the package changes no global state: no matplotlib backend or
style, no random seed.
"""

from analysis.attribution import available as attribution_methods
from analysis.attribution import create as create_attribution
from analysis.attribution import prepare_model
from analysis.pipeline import run_analysis

__all__ = ["attribution_methods", "create_attribution", "prepare_model", "run_analysis"]
