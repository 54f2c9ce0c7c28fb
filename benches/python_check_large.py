"""The Python package checking one large volume in process, against the Rust harness doing the
same (`cargo bench --bench evaluate -- check`): the oracle's answer, the float32 bound of every
entry and the comparison of a backend's answer computed beforehand, for the
(1, 2, 128, 128, 128) volume. Run with the wheel installed:

    python benches/python_check_large.py

Prints the best and the median of 10 runs of ``ufl_oracle.check`` (the backend returns the
precomputed answer), and the peak RSS of the process.
"""

import resource
import statistics
import time

import ufl_oracle

chosen = ufl_oracle.cases(groups="large", filter="1x2x128x128x128")
(case,) = list(chosen)
loss, grad = ufl_oracle.evaluate(case.function, case.pred, case.target, convention=case.convention, layout=case.layout, **case.params)
answer = (loss, grad)
report = ufl_oracle.check(lambda c: answer, chosen, precision="float32")
assert report.ok, report.text
times = []
for _ in range(10):
    start = time.perf_counter()
    ufl_oracle.check(lambda c: answer, chosen, precision="float32")
    times.append(time.perf_counter() - start)
print(f"check of {case.id}: best {min(times):.3f} s, median {statistics.median(times):.3f} s over 10 runs")
print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
