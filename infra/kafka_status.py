"""The Kafka cluster as its nodes see it (printed by `./manage_all.sh status` for `up --brokers 3`).

    kafka_status.py HOST:PORT[,HOST:PORT…]

Which node is the active controller (the leader of the KRaft quorum), how many partitions each node leads,
and the under-replicated partitions (fewer replicas in sync than assigned: a node is down or catching up) and
offline ones (no leader at all). Node N is the component `kafka-N` of manage_all.sh.
"""

import logging
import sys
from collections import Counter
from dataclasses import dataclass, field

from kafka import KafkaAdminClient
from kafka.errors import KafkaError


@dataclass
class ClusterState:
    serving: list[int]  # ids of the nodes that answer as unfenced brokers
    controller: int | None  # the quorum's leader, None while no majority of controllers is up
    leaders: Counter = field(default_factory=Counter)  # node id -> partitions it leads
    partitions: int = 0
    under_replicated: list[str] = field(default_factory=list)  # "topic[partition]"
    offline: list[str] = field(default_factory=list)


def cluster_state(bootstrap: str) -> ClusterState:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        brokers = admin.describe_cluster()["brokers"]
        state = ClusterState(serving=sorted(b["broker_id"] for b in brokers if not b.get("is_fenced")),
                             controller=_active_controller(admin))
        for topic in admin.describe_topics():
            for partition in topic["partitions"]:
                name = f"{topic['name']}[{partition['partition_index']}]"
                state.partitions += 1
                if partition["leader_id"] < 0:
                    state.offline.append(name)
                else:
                    state.leaders[partition["leader_id"]] += 1
                if len(partition["isr_nodes"]) < len(partition["replica_nodes"]):
                    state.under_replicated.append(name)
        return state
    finally:
        admin.close()


def _active_controller(admin: KafkaAdminClient) -> int | None:
    try:
        leader = admin.describe_metadata_quorum()["topics"][0]["partitions"][0]["leader_id"]
    except KafkaError:  # no majority of controllers: nobody leads the quorum
        return None
    return leader if leader >= 0 else None


def describe(state: ClusterState) -> str:
    controller = f"kafka-{state.controller}" if state.controller else "none (fewer than a majority of nodes up)"
    leaders = ", ".join(f"kafka-{node} {state.leaders[node]}" for node in sorted(state.leaders)) or "none"
    lines = [f"kafka cluster: serving nodes {', '.join(f'kafka-{n}' for n in state.serving) or 'none'}; "
             f"active controller {controller}",
             f"  partitions led: {leaders} (of {state.partitions})",
             f"  under-replicated partitions: {len(state.under_replicated)}"
             + (f" ({', '.join(state.under_replicated[:5])}{', …' if len(state.under_replicated) > 5 else ''})"
                if state.under_replicated else "")
             + f"; offline: {len(state.offline)}"]
    return "\n".join(lines)


def main() -> int:
    logging.disable(logging.CRITICAL)  # the client logs every refused connection; the summary says what matters
    try:
        print(describe(cluster_state(sys.argv[1])))
    except KafkaError as error:
        print(f"kafka cluster: no node answers ({type(error).__name__})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
