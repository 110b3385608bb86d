"""What-if planning on a line: actions, replications with common random numbers, comparison and report.

* :mod:`~scenarios.whatif.run` - :class:`Action` (a named change of the line) and :func:`run_whatif`, which
  replicates every action and collects KPIs, traces and the warm-up diagnostic;
* :mod:`~scenarios.whatif.report` - Student-t intervals, paired differences to the baseline, the recommendation
  and the markdown report;
* :mod:`~scenarios.whatif.constraints` - guardrails on KPIs in display units, judged on intervals;
* :mod:`~scenarios.whatif.decision` - the decision (guardrails, risk, "no clear winner") and its record
  (``docs/decisions.md``);
* :mod:`~scenarios.whatif.plots` - the figures of the main job (imported on use: matplotlib).
"""

from scenarios.whatif.constraints import Constraint
from scenarios.whatif.decision import Decision, decide
from scenarios.whatif.report import Recommendation, recommend, report_markdown, summarize
from scenarios.whatif.run import Action, WhatIfResult, run_whatif

__all__ = ["Action", "Constraint", "Decision", "Recommendation", "WhatIfResult", "decide", "recommend",
           "report_markdown", "run_whatif", "summarize"]
