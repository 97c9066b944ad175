"""`inspect --storage`: where a running container's filesystem is on disk (issue 17,
acceptance 3): the overlay's lower dirs with their layers, the upper dir holding the
container's changes (a new file, a whiteout), the mount options the kernel shows;
for the copy driver the layers it copied; the volume's data directory."""

from __future__ import annotations

import json
import os
import stat

from runtime_helpers import Minidock, wait_for

SCRIPT = "echo hi > /new; rm /bin/ls; echo > /data/kept; sleep 60"


def test_storage_shows_the_stack_and_the_container_layer(md: Minidock) -> None:
    md.ok("run", "-d", "--name", "stack", "-v", "stackvol:/data", "busybox", "sh", "-c", SCRIPT)
    try:
        doc = json.loads(md.ok("inspect", "--storage", "stack"))[0]
        image = json.loads(md.ok("image", "inspect", "busybox"))[0]
        diff_id = image["RootFS"]["Layers"][0]
        volume = doc["Volumes"][0]
        assert (volume["Name"], volume["Destination"]) == ("stackvol", "/data")
        wait_for(lambda: os.path.exists(os.path.join(volume["Source"], "kept")))
        if md.driver == "overlay":
            lowers = doc["LowerDirs"]
            assert [lower["DiffID"] for lower in lowers] == ["", diff_id]
            assert lowers[1]["CreatedBy"] == "ADD busybox /"
            assert os.path.samefile(lowers[1]["Path"], lowers[1]["LayerDir"])
            assert os.listdir(lowers[1]["Path"]).count("bin") == 1
            upper = doc["UpperDir"]
            assert sorted(os.listdir(upper)) == ["bin", "new"]
            whiteout = os.lstat(os.path.join(upper, "bin", "ls"))
            assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
            assert "lowerdir=init:lower/0" in doc["MountOptions"]
            assert f"upperdir={upper}" in doc["MountOptions"]
            assert doc["MountOptionsFrom"] == "the running container's mountinfo"
        else:
            assert [layer["DiffID"] for layer in doc["CopiedLayers"]] == [diff_id]
            rootfs = doc["RootDir"]
            assert os.path.exists(os.path.join(rootfs, "new"))
            assert not os.path.lexists(os.path.join(rootfs, "bin", "ls"))
        missing = md("inspect", "--storage", "nothere")
        assert missing.code == 1 and "No such container: nothere" in missing.err
    finally:
        md("rm", "-f", "-v", "stack")
        md("volume", "rm", "stackvol")
