"""A three-node RabbitMQ cluster on loopback, started from the Debian ``rabbitmq-server``.

Each node runs as the ``rabbitmq`` user with a name of its own (``texpipe-<run>-a@localhost``),
explicit AMQP and distribution ports, and its config, data (``RABBITMQ_MNESIA_BASE``), logs
and enabled-plugins file (none: no management UI, which saves seconds per start) under one run
folder. The nodes share an Erlang cookie through ``HOME`` (a folder of the run holding
``.erlang.cookie``, mode 400, owned by ``rabbitmq``): the server and ``rabbitmqctl`` both read
the cookie from ``$HOME/.erlang.cookie``, so no secret appears on a command line.

The machine's own node (``rabbit@localhost`` on 5672) and its files are never touched: this
module reads no file of it, runs no command against it, and uses its own conf-env file instead
of ``/etc/rabbitmq/rabbitmq-env.conf``. The machine's ``epmd`` (127.0.0.1:4369) is shared: the
nodes register their names there, which is why names are unique per run and distribution
ports explicit. (On a machine where no epmd runs, the first node starts one, as every Erlang
node does; it stays, shared, like the machine's.) Each node is a process group this module
started (the node runs in the foreground, ``start_new_session``); stopping the cluster stops
those groups and nothing else.

The three nodes start at once (the Erlang VM's start is the cost), then ``b`` and ``c`` join
``a`` with ``rabbitmqctl join_cluster`` side by side. Measured here: 28 to 37 s from nothing
to a formed cluster on a lightly loaded two-core machine, 58 to 85 s at a load average of 12
to 15. Every node holds a replica of every quorum queue: ``quorum_cluster_size`` is set to
the contracts' ``QUORUM_REPLICAS`` in each node's ``advanced.config``.
"""

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from texpipe_contracts.topology import QUORUM_REPLICAS

from texpipe_testing.servers import free_port, tcp_reachable

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
"""Where Debian's package keeps the real scripts (``/usr/sbin`` has wrappers that log to the
machine's ``/var/log/rabbitmq`` and switch to the machine node's ``HOME``)."""
RABBITMQ_USER = "rabbitmq"
START_TIMEOUT_S = 90.0
CTL_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class ClusterUnavailableError(RuntimeError):
    """The machine cannot run a local cluster (no ``rabbitmq-server``, not root)."""


def cluster_unavailable_reason() -> str | None:
    """Why a cluster cannot start here, or None when it can."""
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        return "rabbitmq-server is not installed (Debian package rabbitmq-server)"
    try:
        pwd.getpwnam(RABBITMQ_USER)
    except KeyError:
        return "there is no rabbitmq user"
    if os.geteuid() != 0:
        return "starting nodes as the rabbitmq user needs root"
    return None


@dataclass
class Node:
    """One node: its name, ports, folder and (while running) its process."""

    name: str
    amqp_port: int
    dist_port: int
    root: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def amqp_url(self) -> str:
        """The node's AMQP address (guest may sign in from loopback)."""
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def running(self) -> bool:
        """Whether the node's process is alive."""
        return self.process is not None and self.process.poll() is None


class RabbitCluster:
    """Three nodes ``a``, ``b``, ``c`` under ``root`` (see the module docstring)."""

    def __init__(self, root: Path, *, run_id: str | None = None, size: int = 3) -> None:
        reason = cluster_unavailable_reason()
        if reason is not None:
            raise ClusterUnavailableError(reason)
        run_id = run_id or secrets.token_hex(3)
        self.root = root
        self.home = root / "home"
        self.nodes = [
            Node(f"texpipe-{run_id}-{letter}@localhost", free_port(), free_port(), root / letter)
            for letter in "abcdefg"[:size]
        ]
        user = pwd.getpwnam(RABBITMQ_USER)
        self._uid, self._gid = user.pw_uid, user.pw_gid
        self.started_s: float | None = None
        """Seconds from the first node's start until the cluster was formed."""

    @property
    def amqp_urls(self) -> list[str]:
        """Every node's address, in node order."""
        return [node.amqp_url for node in self.nodes]

    @property
    def amqp_url_list(self) -> str:
        """The addresses as services take them (``TEXPIPE_AMQP_URL``, comma-separated)."""
        return ",".join(self.amqp_urls)

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        return next(n for n in self.nodes if n.name == name)

    def start(self) -> "RabbitCluster":
        """Start every node at once, wait for them, and join them into one cluster."""
        began = time.monotonic()
        self._prepare()
        try:
            with ThreadPoolExecutor(len(self.nodes)) as pool:
                list(pool.map(self.start_node, self.nodes))
            seed = self.nodes[0]
            with ThreadPoolExecutor(len(self.nodes)) as pool:
                list(pool.map(lambda node: self._join(node, seed), self.nodes[1:]))
            running = self.ctl(seed, "eval", "length(rabbit_nodes:all_running()).")
            if running.strip() != str(len(self.nodes)):
                raise RuntimeError(f"the cluster has {running.strip()} running nodes")
        except BaseException:
            self.stop()
            raise
        self.started_s = time.monotonic() - began
        return self

    def _join(self, node: Node, seed: Node) -> None:
        self.ctl(node, "stop_app")
        self.ctl(node, "join_cluster", seed.name)
        self.ctl(node, "start_app")

    def start_node(self, node: Node) -> None:
        """Start ``node`` (again, after a kill: it rejoins its cluster) and wait until it
        serves AMQP."""
        log = (node.root / "console.log").open("ab")
        node.process = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self._env(node),
            cwd=node.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            user=self._uid,
            group=self._gid,
            extra_groups=[],
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not tcp_reachable("127.0.0.1", node.amqp_port, timeout=0.5):
            if not node.running:
                raise RuntimeError(f"{node.name} exited:\n{self.log_tail(node)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node.name} not up within {START_TIMEOUT_S} s")
            time.sleep(0.2)
        self.ctl(node, "await_startup")

    def kill_node(self, node: Node) -> None:
        """SIGKILL ``node``'s process group (the VM and its helpers), as a crash would."""
        if node.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait()

    def stop_node(self, node: Node) -> None:
        """SIGTERM (a clean stop), then SIGKILL what is left of its process group."""
        if node.process is None:
            return
        if node.running:
            node.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(timeout=STOP_TIMEOUT_S)
        self.kill_node(node)

    def stop(self) -> None:
        """Stop every node this cluster started (and only those)."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(self.stop_node, self.nodes))

    def ctl(self, node: Node, *args: str, timeout: float = CTL_TIMEOUT_S) -> str:
        """``rabbitmqctl -n <node> <args>`` as the rabbitmq user with the cluster's cookie;
        returns its output, raising with it when the command fails."""
        done = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", node.name, *args],
            env=self._env(node),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self._uid,
            group=self._gid,
            extra_groups=[],
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"rabbitmqctl -n {node.name} {' '.join(args)}: exit {done.returncode}\n"
                f"{done.stdout}{done.stderr}"
            )
        return done.stdout

    def queue_leader(self, queue: str, vhost: str = "/") -> str:
        """The node that leads quorum queue ``queue`` (asked of a running node)."""
        asker = next(n for n in self.nodes if n.running)
        out = self.ctl(asker, "list_queues", "-p", vhost, "name", "leader", "--quiet")
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 2 and parts[0] == queue:
                return parts[1].strip()
        raise LookupError(f"queue {queue!r} not found on the cluster")

    def queue_members(self, queue: str, vhost: str = "/") -> list[str]:
        """The nodes that hold a replica of quorum queue ``queue``."""
        asker = next(n for n in self.nodes if n.running)
        out = self.ctl(asker, "list_queues", "-p", vhost, "name", "members", "--quiet")
        for line in out.splitlines():
            name, _, members = line.partition("\t")
            if name == queue:
                return [m.strip(" []") for m in members.split(",") if m.strip(" []")]
        raise LookupError(f"queue {queue!r} not found on the cluster")

    def log_tail(self, node: Node, chars: int = 3000) -> str:
        """The end of the node's console output."""
        path = node.root / "console.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def _prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20).upper())
        cookie.chmod(0o400)
        (self.root / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
        for node in self.nodes:
            for sub in ("mnesia", "log"):
                (node.root / sub).mkdir(parents=True, exist_ok=True)
            (node.root / "rabbitmq.conf").write_text(
                f"listeners.tcp.1 = 127.0.0.1:{node.amqp_port}\n"
                # Each node shares two cores with its siblings and the machine's node.
                "vm_memory_high_watermark.relative = 0.2\n"
                "cluster_partition_handling = pause_minority\n"
            )
            (node.root / "enabled_plugins").write_text("[].\n")
            # Replicas of each quorum queue: the contracts' figure, not the broker's default.
            (node.root / "advanced.config").write_text(
                f"[{{rabbit, [{{quorum_cluster_size, {QUORUM_REPLICAS}}}]}}].\n"
            )
        for path in [self.root, *self.root.rglob("*")]:
            os.chown(path, self._uid, self._gid)

    def _env(self, node: Node) -> dict[str, str]:
        root = node.root
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": str(self.home),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(node.amqp_port),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(root / "advanced.config"),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(root / "node.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }


class ClusterStart:
    """A cluster started in a thread of its own, in a throwaway folder: a test session starts
    it once its tests are collected, so the nodes boot while earlier tests run."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self._future: Future[RabbitCluster] | None = None

    def begin(self) -> None:
        """Start booting (returns at once)."""
        if self._future is not None:
            return
        root = self._root = Path(tempfile.mkdtemp(prefix="texpipe-rabbit-cluster-"))
        pool = ThreadPoolExecutor(1, thread_name_prefix="rabbit-cluster")
        self._future = pool.submit(lambda: RabbitCluster(root).start())
        pool.shutdown(wait=False)  # returns now; the start goes on in its thread

    def cluster(self) -> RabbitCluster:
        """The running cluster, once it is formed (starting it now if nobody did); raises
        what made its start fail."""
        self.begin()
        assert self._future is not None
        return self._future.result(timeout=START_TIMEOUT_S * 3)

    def end(self) -> None:
        """Stop the cluster (if it started) and remove its folder."""
        if self._future is not None:
            with contextlib.suppress(Exception):
                self._future.result(timeout=START_TIMEOUT_S * 3).stop()
            self._future = None
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
