"""Every knob of a node and a link reaches the kernel and the container.

    left (files, env, exec, sysctls, resources) ══ mtu 1400, mac, rate 8 Mbit ══ right
    left ── down-link (state down) ── right
"""
import json
import re


def features() -> dict:
    return {
        "format": "topolab/v1",
        "name": "features",
        "nodes": [
            {"name": "left", "env": {"GREETING": "hello lab"},
             "files": [{"path": "/etc/topolab/motd", "content": "welcome\n", "mode": "0600"},
                       {"path": "/opt/new/dir/run.sh", "content": "#!/bin/sh\necho ran\n", "mode": "0755"}],
             "exec": ["echo done > /tmp/exec-ran", "ip link set dev eth0 txqueuelen 42"],
             "sysctls": {"net.ipv4.conf.all.rp_filter": "2", "net.ipv4.ip_forward": "1"},
             "resources": {"cpus": 0.5, "memory_mb": 96, "pids": 64},
             "routes": [{"to": "10.99.0.0/16", "dev": "eth0"}, {"to": "2001:db8:99::/48", "via": "2001:db8::2"}]},
            {"name": "right"},
        ],
        "links": [
            {"endpoints": [{"node": "left", "interface": "eth0", "addresses": ["10.0.0.1/31", "2001:db8::1/64"],
                            "mac": "02:00:00:00:00:01"},
                           {"node": "right", "interface": "eth0", "addresses": ["10.0.0.0/31", "2001:db8::2/64"],
                            "mac": "02:00:00:00:00:02"}],
             "mtu": 1400, "impairment": {"rate_kbit": 8000}},
            {"endpoints": [{"node": "left", "interface": "spare"}, {"node": "right", "interface": "spare"}],
             "state": "down"},
        ],
    }


def test_it_applies_every_node_and_link_setting(labs):
    lab = labs.deploy(features())
    assert lab.state == "running", lab.reason

    def run(node, *argv):
        code, out = labs.run(lab, node, *argv)
        assert code == 0, out
        return out

    assert run("left", "cat", "/etc/topolab/motd") == "welcome\n"
    assert run("left", "stat", "-c", "%a", "/etc/topolab/motd").strip() == "600"
    assert run("left", "/opt/new/dir/run.sh") == "ran\n"
    assert run("left", "sh", "-c", "echo $GREETING") == "hello lab\n"
    assert run("left", "cat", "/tmp/exec-ran") == "done\n"
    assert run("left", "cat", "/proc/sys/net/ipv4/conf/all/rp_filter").strip() == "2"
    assert run("left", "cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"
    assert run("right", "cat", "/proc/sys/net/ipv4/ip_forward").strip() == "0"

    eth0 = json.loads(run("left", "ip", "-j", "-d", "link", "show", "eth0"))[0]
    assert eth0["mtu"] == 1400 and eth0["address"] == "02:00:00:00:00:01" and eth0["txqlen"] == 42
    spare = json.loads(run("left", "ip", "-j", "link", "show", "spare"))[0]
    assert "UP" not in spare["flags"]
    assert "tbf" in run("right", "tc", "qdisc", "show", "dev", "eth0")
    assert "10.99.0.0/16 dev eth0" in run("left", "ip", "route")
    assert "2001:db8:99::/48 via 2001:db8::2" in run("left", "ip", "-6", "route")
    assert "ttl=64" in run("left", "ping", "-c", "1", "-W", "2", "10.0.0.0")  # a /31 takes both addresses
    assert run("left", "ping", "-6", "-c", "1", "-W", "2", "2001:db8::2")

    inspect = labs.runtime.api.inspect_container(lab.nodes.get(name="left").container_id)
    host = inspect["HostConfig"]
    assert host["NetworkMode"] == "none" and not host["Privileged"]
    assert host["Memory"] == 96 * 1024 * 1024 and host["PidsLimit"] == 64 and host["NanoCpus"] == 500_000_000
    assert host["CapAdd"] == ["NET_ADMIN"]
    labels = inspect["Config"]["Labels"]
    assert labels["topolab.node"] == "left" and labels["topolab.owner"] == "student"
    assert labels["topolab.lab"] == str(lab.pk)
    labs.destroy(lab)


def test_it_gives_a_node_the_default_limits(labs):
    lab = labs.deploy({"format": "topolab/v1", "name": "lonely", "nodes": [{"name": "solo"}]})
    assert lab.state == "running", lab.reason
    host = labs.runtime.api.inspect_container(lab.nodes.get(name="solo").container_id)["HostConfig"]
    assert host["Memory"] == 256 * 1024 * 1024 and host["PidsLimit"] == 256
    labs.destroy(lab)


def test_it_applies_delay_and_loss_or_says_the_kernel_cannot(labs):
    """netem is a kernel module some hosts lack: then the build fails and says so, leaving nothing."""
    document = features()
    document["name"] = "impaired"
    document["links"][0]["impairment"] = {"delay_ms": 20, "jitter_ms": 2, "loss_percent": 0.5, "rate_kbit": 8000}
    lab = labs.deploy(document)
    if lab.state == "failed":
        assert "no netem (sch_netem)" in lab.reason and re.search(r"impair (left|right):eth0", lab.reason), lab.reason
        assert labs.containers(lab) == []
        return
    assert lab.state == "running", lab.reason
    code, out = labs.run(lab, "left", "tc", "qdisc", "show", "dev", "eth0")
    assert "netem" in out and "delay 20" in out and "tbf" in out, out
    labs.destroy(lab)
