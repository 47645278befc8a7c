#!/usr/bin/env python3
"""pidreuse.py - the PID-reuse case for tests/regress/agent_guard.sh.

  pidreuse.py AGENT RUNDIR STOP-COMMAND...

RUNDIR is a run whose single rank is running under a live agent, started
by a descendant of this script's parent chain (the caller runs the launch
under this script: see --launch). This script is a child subreaper, so
the detached agent and its shims are reparented here when they die and
their pids are freed at once (PID 1 of a container may reap late).

Steps: read the rank's recorded pids (shim = the process group the agent
signals, core = the training process); SIGKILL the agent, then the rank's
group; reap them; fork impostors until one gets the shim's pid and one the
core's pid (kernel.ns_last_pid, root only), each in a session of its own
so kill(-pid) would reach it; run STOP-COMMAND (e.g. `drover stop` or
`drover-agent attach --adopt` with a stop command on stdin); then print
one line per impostor: "impostor shim PID alive" or "... dead", and the
stop command's exit status. Exit 2 when the case could not be built.

  pidreuse.py --launch AGENT RUNDIR STOP... -- LAUNCH...
runs LAUNCH first (as our child, so what it detaches is ours to reap).
"""
import ctypes, json, os, signal, subprocess, sys, time

PR_SET_CHILD_SUBREAPER = 36


def reap_all():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
        return st in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_freed(pid, limit=10.0):
    t = time.time() + limit
    while time.time() < t:
        reap_all()
        if not os.path.exists("/proc/%d" % pid):
            return True
        time.sleep(0.02)
    return False


def impostor_at(target, tries=400):
    """A `sleep` in a session of its own at pid TARGET, or None."""
    for _ in range(tries):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(target - 1))
        pid = os.fork()
        if pid == 0:
            if os.getpid() != target:
                os._exit(0)
            os.setsid()
            devnull = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.execvp("sleep", ["sleep", "300"])
        if pid == target:
            return pid
        os.waitpid(pid, 0)
    return None


def main():
    args = sys.argv[1:]
    launch = None
    if args and args[0] == "--launch":
        i = args.index("--")
        launch = args[i + 1:]
        args = args[1:i]
    agent, rundir, stop = args[0], args[1], args[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("cannot become a subreaper")
        return 2
    if launch:
        rc = subprocess.run(launch, stdout=subprocess.DEVNULL).returncode
        if rc != 0:
            print("launch failed: exit %d" % rc)
            return 2
    st = None
    for _ in range(100):
        st = json.loads(subprocess.run([agent, "status", rundir],
                                       capture_output=True).stdout or b"{}")
        rk = st.get("ranks") or []
        if rk and rk[0].get("state") == "running" and rk[0].get("child_pid"):
            break
        time.sleep(0.1)
    else:
        print("the rank never ran: %s" % st)
        return 2
    apid = st["agent"]["pid"]
    shim, core = rk[0]["pid"], rk[0]["child_pid"]
    os.kill(apid, signal.SIGKILL)
    os.killpg(shim, signal.SIGKILL)
    for p in (apid, shim, core):
        if not wait_freed(p):
            print("pid %d was not freed" % p)
            return 2
    imp = {}
    for name, p in (("shim", shim), ("core", core)):
        got = impostor_at(p)
        if got is None:
            print("could not get pid %d again" % p)
            return 2
        imp[name] = got
    rc = subprocess.run(stop, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, timeout=60).returncode
    time.sleep(3)	# past a stop's grace: a SIGKILL would have come by now
    for name, p in imp.items():
        alive = os.waitpid(p, os.WNOHANG) == (0, 0) and not gone(p)
        print("impostor %s %d %s" % (name, p, "alive" if alive else "dead"))
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    print("stop exit %d" % rc)
    reap_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
