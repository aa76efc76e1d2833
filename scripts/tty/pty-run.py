#!/usr/bin/env python3
"""Runs a command in a pseudo-terminal of a given size and writes every byte it printed to stdout.

    pty-run.py COLUMNS ROWS [--steps JSON] COMMAND [ARG...]

The command's stdin, stdout and stderr are the terminal (so `isatty` is true and TIOCGWINSZ
answers COLUMNS); the size is set before the command starts. --steps plays a person at the
keyboard: a JSON list of ["expect", TEXT] (wait until TEXT has been printed since the last
expect, 30 s at most) and ["send", TEXT] (type TEXT: "\\r" is Return, "\\u0003" Ctrl-C,
"\\u001b[A" the up arrow), and ["raw", ""] (wait until the program has put the terminal in
raw mode, ICANON off, 30 s at most: keys such as Ctrl-D or an arrow typed before a line editor
has taken the terminal are the kernel's, not the editor's: a cooked terminal echoes an arrow
as "^[[A" and turns Ctrl-D into an end of file that the switch to raw mode drops). Exits with the command's exit code (128+N for signal N), or 124
when an expect timed out. Tests use it to see exactly what a person at a terminal would.
"""
import fcntl, json, os, select, signal, struct, subprocess, sys, termios, time

def main():
    cols, rows, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    steps = []
    if argv[:1] == ["--steps"]:
        steps, argv = json.loads(argv[1]), argv[2:]
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    def session():
        # A fresh login's terminal: its controlling tty, and signals as a shell leaves them. A
        # blocked or ignored SIGINT inherited from whatever started this script (a test runner's
        # thread) would make Ctrl-C do nothing.
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGTSTP):
            signal.signal(sig, signal.SIG_DFL)
    child = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True, preexec_fn=session)
    os.close(slave)
    out = bytearray()
    seen = 0  # what an expect has matched up to

    def read(timeout):
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every holder of the terminal's other side has closed it
            return False
        out.extend(data)
        return bool(data)

    for kind, text in steps:
        if kind == "send":
            os.write(master, text.encode())
            continue
        if kind == "raw":
            # On Linux the master side reads the terminal's settings (those the program set).
            deadline = time.monotonic() + 30
            while termios.tcgetattr(master)[3] & termios.ICANON:
                if time.monotonic() > deadline:
                    sys.stdout.buffer.write(bytes(out))
                    sys.stderr.write("pty-run: timed out waiting for raw mode\n")
                    child.kill()
                    sys.exit(124)
                read(0.01)
            continue
        want, deadline = text.encode(), time.monotonic() + 30
        while out.find(want, seen) < 0:
            if time.monotonic() > deadline or not read(0.1):
                if out.find(want, seen) >= 0:
                    break
                sys.stdout.buffer.write(bytes(out))
                sys.stderr.write("pty-run: timed out waiting for %r\n" % text)
                child.kill()
                sys.exit(124)
        seen = out.find(want, seen) + len(want)
    deadline = time.monotonic() + 60
    while read(1) and time.monotonic() < deadline:
        pass
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        sys.stderr.write("pty-run: the command did not end\n")
        child.kill()
    sys.stdout.buffer.write(bytes(out))
    sys.stdout.flush()
    code = child.wait()
    sys.exit(code if code >= 0 else 128 - code)

main()
