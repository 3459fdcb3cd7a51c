"""The topologies page imports other tools' labs: a zipped Kathará lab with its warnings listed, and a broken
containerlab file whose errors name its lines, with nothing saved."""
import zipfile
from pathlib import Path

from topology.models import Topology

from .conftest import shot

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"


def test_it_imports_a_kathara_zip_and_lists_a_clab_files_errors(signed_in, owner, tmp_path):
    page = signed_in
    bad = tmp_path / "broken.clab.yml"
    bad.write_text("name: broken\ntopology:\n  nodes:\n    a: {kind: linux}\n  links:\n"
                   "    - endpoints: [\"a:eth1\", \"z:eth1\"]\n")
    page.locator("#import-file").set_input_files(str(bad))
    notice = page.locator("#list-message .notice-error")
    notice.wait_for()
    text = notice.inner_text()
    assert "nothing was saved" in text and "broken.clab.yml:6" in text and "no node named 'z'" in text
    assert not Topology.objects.filter(owner=owner).exists()
    shot(page, "list-import-clab-errors")

    archive = tmp_path / "office.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted((DATA / "kathara-lan").rglob("*")):
            if path.is_file():
                z.write(path, f"office/{path.relative_to(DATA / 'kathara-lan')}")
    page.locator("#import-file").set_input_files(str(archive))
    ok = page.locator("#list-message .notice-ok")
    ok.wait_for()
    text = ok.inner_text()
    assert "Imported office-lan from Kathará" in text and "lab.conf:4" in text and "joins 3 machines" in text
    page.locator("#topologies tr[data-name='office-lan']").wait_for()
    assert Topology.objects.get(owner=owner, name="office-lan").node_count == 5
    shot(page, "list-import-kathara")
