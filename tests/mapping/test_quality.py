"""test_quality.py — the suite's mapping quality test: a world from lgsp-gen
(seed and scale from $MAPPING_SEED / $MAPPING_SCALE, default 1 and 0.01),
then check_mapping.py over all six sources against the ground truth: at
least 99.9 % of the records without an injected invalid value map, and every
injected invalid value is quarantined by the right rule on the right field."""
import os
import shutil
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
tmp = os.path.join(os.environ.get("LGSP_TEST_TMP", "/tmp"), "mapping-quality-%d" % os.getpid())
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
world = os.path.join(tmp, "world")
seed, scale = os.environ.get("MAPPING_SEED", "1"), os.environ.get("MAPPING_SCALE", "0.01")
subprocess.run([os.environ["LGSP_GEN"], "--seed", seed, "--scale", scale, "--out", world, "--quiet",
                "--data", os.environ["LGSP_SHARED"]], check=True)
cli = os.environ["LGSP_CLI"]
rc = subprocess.run([sys.executable, os.path.join(here, "check_mapping.py"), "--world", world,
                     "--lgsp", cli, "--data", os.path.join(os.environ["LGSP_SHARED"], "admin"),
                     "--adapter-test", os.path.join(os.path.dirname(cli), "lgsp-adapter-test"),
                     "--adapter-path", os.environ["LGSP_ADAPTER_PATH"],
                     "--work", os.path.join(tmp, "work")]).returncode
if rc == 0:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(rc)
