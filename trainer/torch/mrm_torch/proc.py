"""What a training run knows about its own process: the BLAS it loaded, and
whether the process that started it is still there."""
import os
import sys
import time


def blas_library():
    """The BLAS this process loaded. Debian's torch links the system
    libblas.so.3, and with only libblas3 (the reference BLAS) installed a
    matrix product runs at about 1.3 GFLOP/s against about 57 with OpenBLAS
    (libopenblas0-openmp, measured on this machine), which made a step of 32
    pairs take 12 s. Reported in the start event so a slow run says why."""
    try:
        with open('/proc/self/maps') as f:
            libs = {line.split()[-1] for line in f if 'blas' in line.lower() and '/' in line}
    except OSError:
        return 'unknown'
    return ','.join(sorted(libs)) or 'none'


def alive(pid):
    """Whether process `pid` runs: it exists and is not a zombie (a killed
    parent stays one until its own parent reaps it)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            # "pid (comm) state ...": comm may hold spaces, so split after its ')'.
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


def exit_with_parent(parent, every=1.0):
    """A thread that ends this process once process `parent` is gone.
    engine.ts keeps a result only after it has validated it, so a trainer
    whose starter was killed (kill -9 of a round) would burn CPU for nothing,
    and a resumed round would start a second one writing the same
    checkpoints. The pid is given rather than read from getppid() at start:
    a starter that died before this process got there is noticed too, and a
    wrapper script between the two (a --python that does not exec) is not
    taken for the starter."""
    import threading

    if parent == os.getppid():
        _die_with_parent()

    def watch():
        while True:
            if not alive(parent):
                print(f'mrm_torch.train: parent process {parent} is gone; exiting', file=sys.stderr, flush=True)
                os._exit(3)
            time.sleep(every)
    threading.Thread(target=watch, daemon=True).start()


def _die_with_parent():
    """Asks the kernel to kill this process when its parent ends
    (prctl PR_SET_PDEATHSIG). The watcher thread alone was not enough: a
    long call that holds the GIL (decoding a data set's PNGs, one big
    matrix product) kept it from running, and a trainer whose parent was
    killed during data loading outlived it by over 30 s. SIGKILL because
    Python's default SIGTERM handling also waits for the GIL to run.
    Linux only; elsewhere the watcher thread still ends the process."""
    import ctypes
    import signal
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass
