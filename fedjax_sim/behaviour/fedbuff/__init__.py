"""Asynchronous buffered aggregation on the virtual clock: FedBuff (Nguyen et
al. 2022), and FedAsync (Xie et al. 2019) as its `buffer_size=1` case.

`concurrency` clients are in flight at once. Each downloads the model version
current when it starts, trains, and reports after its local steps at its
speed plus its upload time (`fedjax_sim.behaviour.system_profiles`). The server
applies an update every `buffer_size` (K) reports: the wrapped algorithm's
aggregator combines the K reports, the update of each discounted by a
staleness factor s(tau), where tau is the number of server updates since the
client downloaded; then the wrapped algorithm's server update. With the mean
that is `sum_i w_i s(tau_i) u_i / sum_i w_i` (w: aggregation weights). Freed
slots go to clients sampled among those available then
(`fedjax_sim.behaviour.availability`) and not already in flight. Staleness factors
(`staleness`, as in the paper):
  'constant':   1;
  'polynomial': (1 + tau) ** -exponent;
  'hinge':      1 for tau <= hinge, else 1 / (exponent * (tau - hinge) + 1).

Aggregators (`fedjax_sim.behaviour.fedbuff.reports`): a client's update is prepared
(clipped, reweighted) by the aggregator's `prepare` when it trains, with the
aggregator state of then; every server update runs the aggregator's
`combine` on its K reports, discounted: a sum-based rule (mean, clip, dp,
dp_noise) sums `w_i s_i u_i` over `sum_i w_i`, an order statistic (median,
trimmed_mean, krum) ranks the discounted updates `s_i u_i` of the reports
that carry weight. Since s <= 1, a discounted clipped update still has norm
<= C, so each server update under 'dp' is one Gaussian release of the K
reports' clipped sum: build the aggregator with K clients per round
(m = K) and account `dp_releases(server)` releases.

Algorithms: the buffer holds updates shaped like `algorithm.zero_update`,
and every leaf of a report is discounted alike. SCAFFOLD and FedDyn, built
with K clients per round, then add `sum_i s_i dc_i / N` to the control
variate and `-alpha sum_i s_i d_i / N` to h (the control and h deltas are
discounted like the model deltas and averaged over the K reports), while
their model step divides the discounted deltas by their discounted count of
reports that trained: a staleness-weighted mean. Clients' persistent state
(SCAFFOLD's c_i, FedDyn's g_i) is updated when the client trains, as in
synchronous rounds. An algorithm with a second reduce (`receive_side`,
FedExP) is refused: the buffer keeps no side values.

Stragglers and dropouts: the round's draws for the K clients a program
trains (as in synchronous rounds) become its `step_budgets`
(`program_inputs`): a straggler reports the steps it managed at its slot's
report time; a client that drops out runs no step, keeps its persistent
state, holds its slot until then and reports nothing (weight 0).

How it is simulated: a client's training depends only on the version it
downloaded, so it trains when it starts and its update waits in a buffer of
`concurrency` slots until its report time; no old model version is kept.
One program (the engine's round, `wrap` the algorithm) trains the K clients
that start now, stores their updates, takes the next K reports in time order,
updates the server and samples the next K clients. The schedule (slots,
report times, versions, the clock) lives in the server state, so a resumed
run continues it exactly. The first `concurrency / K - 1` programs only fill
the pipeline: they train the first clients, all from version 0, and do not
update the model. A step whose K reports all carry weight 0 (empty slots)
leaves the model, the aggregator state and the version as they are.
"""

from fedjax_sim.behaviour.fedbuff.program import BufferState, collect, dp_releases, program_inputs, wrap
from fedjax_sim.behaviour.fedbuff.settings import STALENESS, Settings, check, staleness_factor

__all__ = ['BufferState', 'STALENESS', 'Settings', 'check', 'collect', 'dp_releases',
           'program_inputs', 'staleness_factor', 'wrap']
