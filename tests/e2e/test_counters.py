"""What `pools` counts, as the README defines it: a Python exception is a
completed call; Timeout, Cancelled and WorkerCrashed are failed ones; a
call refused before it reaches the pool counts in neither; restarts count
executors started again."""
from conftest import wait_until


def counts(c, pool="default"):
    return next(p for p in c.ok("pools", []) if p["name"] == pool)


def test_counters_move_as_the_readme_says(daemon_factory):
    d = daemon_factory(pools={"default": {"size": 1, "max_queue": 1}, "io": {"size": 1}})
    with d.connect() as c:
        base = counts(c)
        assert c.ok("math.sqrt", [4]) == 2.0
        assert c.call("operator.truediv", [1, 0])[0]["type"] == "ZeroDivisionError"
        assert c.call("builtins.set", [[1]])[0]["type"] == "EncodeError"
        now = counts(c)
        assert (now["completed"] - base["completed"], now["failed"] - base["failed"]) == (3, 0)
        assert c.call("call", ["time", "sleep", [5], None, {"timeout": 0.1}])[0]["type"] == "Timeout"
        m = c.send("time.sleep", [5])
        c.notify("cancel", [m])
        assert c.wait(m)[2]["type"] == "Cancelled"
        assert c.call("os._exit", [3])[0]["type"] == "WorkerCrashed"
        now = counts(c)
        assert (now["completed"] - base["completed"], now["failed"] - base["failed"]) == (3, 3)
        wait_until(lambda: counts(c)["idle"] == 1, 20, "the executor replaced")
        assert counts(c)["restarts"] - base["restarts"] >= 1
        # refused before the pool: neither
        before = counts(c)
        assert c.call("call", ["math", "sqrt", [1], None, {"pool": "nope"}])[0]["type"] == "NoSuchPool"
        assert c.call("call", "bad")[0]["type"] == "BadRequest"
        after = counts(c)
        assert (after["completed"], after["failed"]) == (before["completed"], before["failed"])
