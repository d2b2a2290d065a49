"""Who may list an output, and which class list a run record holds (issue 21, the hostile pass on the ledger's
ownership rules and on ``verify``'s class-list check): legitimate runs that reuse an output name, job shards
that saw different inputs, ledger lines and run records edited out of shape, names that are not text."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import make_inputs, photo_like
from ipmix_cli.cli.main import main


def invoke(*arguments):
    return CliRunner().invoke(main, [str(argument) for argument in arguments])


def augment(root: Path, out: Path, mixing: Path, *extra):
    arguments = ["augment", root, out, "--mixing-set", mixing, "--seed", "3", "--k", "2", "--jobs", "1", "--quiet"]
    return invoke(*arguments, *extra)


def verify(out: Path):
    return invoke("verify", out)


def names(manifest: Path) -> list[str]:
    return [json.loads(line)["file_name"] for line in manifest.read_text().splitlines()]


def record_of(out: Path) -> Path:
    return out / "ipmix_run.json" if (out / "ipmix_run.json").exists() else out / ".ipmix" / "ipmix_run.json"


def write_parquet(path: Path, labels: list[int], declared) -> None:
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    pictures = []
    for index in range(len(labels)):
        buffer = io.BytesIO()
        Image.fromarray(photo_like(18, 20, seed=index)).save(buffer, "PNG")
        pictures.append({"bytes": buffer.getvalue(), "path": f"s{index}.png"})
    table = pa.table({"image": pa.array(pictures), "label": pa.array(labels, pa.int64())})
    features = {"image": {"_type": "Image"}, "label": {"_type": "ClassLabel", "names": declared}}
    metadata = json.dumps({"info": {"features": features}}).encode()  # (json escapes a lone surrogate)
    parquet.write_table(table.replace_schema_metadata({b"huggingface": metadata}), path)


# --- legitimate runs ----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("job", ["augment", "corrupt"])
def test_a_new_input_giving_a_gone_inputs_output_names_and_bytes_lists_them_in_the_run_that_makes_them(
    tmp_path, mixing_dir, job
):
    """``cats/a.jpg`` made, then replaced by ``cats/a.png`` with the same pixels (no ``--prune``): with PNG outputs
    both inputs' outputs have the same names, and the deterministic ones the same bytes. The input in IN owns
    them: listed in the run that made them, not a run later."""
    (tmp_path / "in" / "cats").mkdir(parents=True)
    picture = Image.fromarray(photo_like(20, 18, seed=1))
    picture.save(tmp_path / "in" / "cats" / "a.jpg", quality=100)
    out = tmp_path / "out"
    if job == "augment":
        run = lambda: augment(tmp_path / "in", out, mixing_dir, "--keep-original", "--format", "png")  # noqa: E731
    else:
        run = lambda: invoke(  # noqa: E731
            "corrupt", tmp_path / "in", out, "--corruptions", "brightness,contrast", "--format", "png", "--quiet"
        )
    assert run().exit_code == 0
    Image.open(tmp_path / "in" / "cats" / "a.jpg").save(tmp_path / "in" / "cats" / "a.png")
    (tmp_path / "in" / "cats" / "a.jpg").unlink()
    result = run()
    assert result.exit_code == 0, result.output
    listed = names(out / "metadata.jsonl")
    assert len(listed) == len(set(listed))
    assert verify(out).exit_code == 0, verify(out).output


def test_job_shards_merge_with_the_classes_of_every_shard(tmp_path, mixing_dir):
    """Files format: a class whose only input left IN keeps its outputs in one job shard's ledger; the merged run
    record names that class too (it took shard 0's list)."""
    make_inputs(tmp_path / "in", 6, labels=("birds", "cats"))
    (tmp_path / "in" / "dogs").mkdir()
    Image.fromarray(photo_like(24, 20, seed=20)).save(tmp_path / "in" / "dogs" / "img0020.png")  # in shard 1/2
    out = tmp_path / "out"
    for index in (0, 1):
        assert augment(tmp_path / "in", out, mixing_dir, "--shard", f"{index}/2").exit_code == 0
    for gone in (tmp_path / "in" / "dogs").iterdir():
        gone.unlink()
    (tmp_path / "in" / "dogs").rmdir()
    for index in (0, 1):
        assert augment(tmp_path / "in", out, mixing_dir, "--shard", f"{index}/2").exit_code == 0
    assert invoke("merge", out).exit_code == 0
    assert json.loads(record_of(out).read_text())["classes"] == ["birds", "cats", "dogs"]
    assert verify(out).exit_code == 0, verify(out).output


def test_a_declared_class_list_with_a_repeated_name_verifies(tmp_path, mixing_dir):
    """A Parquet input whose ClassLabel declares ``['cat', 'cat']``: the shards' numbers index the list as declared,
    and verify does not call it edited."""
    (tmp_path / "in").mkdir()
    write_parquet(tmp_path / "in" / "a.parquet", [0, 1, 1, 0], ["cat", "cat"])
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir, "--output-format", "parquet").exit_code == 0
    assert json.loads(record_of(out).read_text())["classes"] == ["cat", "cat"]
    assert verify(out).exit_code == 0, verify(out).output


def test_declared_class_names_that_are_not_text_are_not_taken(tmp_path, mixing_dir):
    """A ClassLabel name holding a lone surrogate (JSON can, no file can): the declaration is ignored (numbers
    stay numbers), never a traceback."""
    (tmp_path / "in").mkdir()
    write_parquet(tmp_path / "in" / "a.parquet", [0, 1], ["ant\udcff", "bee"])
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--output-format", "parquet")
    assert result.exit_code == 0, result.output
    assert json.loads(record_of(out).read_text())["classes"] in (None, [])
    assert verify(out).exit_code == 0


# --- job shards that saw different inputs -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("change", ["a class added", "an input added", "an input removed"])
def test_shards_of_a_shard_format_that_saw_different_inputs_are_not_merged_until_run_again(
    tmp_path, mixing_dir, change
):
    """Output shards are numbered over every input: job shards run before and after IN changed would overlap
    or leave inputs out. Merge refuses, naming the remedy; once every shard ran again, it merges them whole."""
    make_inputs(tmp_path / "in", 8)
    out = tmp_path / "out"
    options = ["--output-format", "webdataset", "--samples-per-shard", "4"]
    assert augment(tmp_path / "in", out, mixing_dir, *options, "--shard", "0/2").exit_code == 0
    if change == "a class added":
        (tmp_path / "in" / "ants").mkdir()
        Image.fromarray(photo_like(24, 20, seed=99)).save(tmp_path / "in" / "ants" / "x.png")
    elif change == "an input added":
        Image.fromarray(photo_like(24, 20, seed=98)).save(tmp_path / "in" / "cats" / "img0000b.png")
    else:
        (tmp_path / "in" / "cats" / "img0000.png").unlink()
    assert augment(tmp_path / "in", out, mixing_dir, *options, "--shard", "1/2").exit_code == 0
    refused = invoke("merge", out)
    assert refused.exit_code == 1 and "re-run every shard" in refused.output and "Traceback" not in refused.output
    assert augment(tmp_path / "in", out, mixing_dir, *options, "--shard", "0/2").exit_code == 0
    assert invoke("merge", out).exit_code == 0
    keys = [json.loads(line)["source"] for line in (out / ".ipmix" / "metadata.jsonl").read_text().splitlines()]
    inputs = sorted(p.relative_to(tmp_path / "in").as_posix() for p in (tmp_path / "in").rglob("*.png"))
    assert sorted(set(keys)) == inputs and len(keys) == 2 * len(inputs)
    assert verify(out).exit_code == 0


# --- ledger lines and run records edited --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("edit", ["a record appended", "a file name edited"])
def test_a_gone_inputs_ledger_line_edited_out_of_shape_lists_nothing_twice(tmp_path, mixing_dir, edit):
    """A ledger line of an input gone from IN (kept without --prune) whose records no longer pair with its files:
    it keeps the pairs that do, and lists no output of another input."""
    make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    (tmp_path / "in" / "cats" / "img0002.png").unlink()
    state = out / ".ipmix-state.jsonl"
    units = [json.loads(line) for line in state.read_text().splitlines()]
    gone = next(unit for unit in units if unit["unit"] == "cats/img0002.png")
    other = next(unit for unit in units if unit["unit"] == "cats/img0000.png")
    if edit == "a record appended":
        gone["records"].append(other["records"][0])
    else:
        gone["records"][0] = {**gone["records"][0], "file_name": other["records"][0]["file_name"]}
    state.write_text("".join(json.dumps(unit) + "\n" for unit in units))
    Image.fromarray(photo_like(24, 20, seed=7)).save(tmp_path / "in" / "dogs" / "new.png")  # something to do
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    listed = names(out / "metadata.jsonl")
    assert len(listed) == len(set(listed))
    assert other["records"][0]["file_name"] in listed


def test_merge_drops_a_ledger_line_claiming_another_inputs_output(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 8)
    out = tmp_path / "out"
    for index in (0, 1):
        assert augment(tmp_path / "in", out, mixing_dir, "--shard", f"{index}/2").exit_code == 0
    state = out / ".ipmix-state.shard-0-of-2.jsonl"
    units = [json.loads(line) for line in state.read_text().splitlines()]
    units[0]["files"].append(units[1]["files"][0])
    units[0]["records"].append(units[1]["records"][0])
    state.write_text("".join(json.dumps(unit) + "\n" for unit in units))
    assert invoke("merge", out).exit_code == 0
    listed = names(out / "metadata.jsonl")
    assert len(listed) == len(set(listed)) == 16
    assert verify(out).exit_code == 0


@pytest.mark.parametrize("output_format", ["files", "parquet"])
def test_a_run_record_without_its_class_list_is_found(tmp_path, mixing_dir, output_format):
    if output_format == "parquet":
        pytest.importorskip("pyarrow")
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir, "--output-format", output_format).exit_code == 0
    record = json.loads(record_of(out).read_text())
    del record["classes"]
    record_of(out).write_text(json.dumps(record))
    result = verify(out)
    assert result.exit_code == 1 and "its class list is missing" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("where", ["the run record", "a shard's run record"])
def test_a_class_name_that_is_not_text_in_a_run_record_is_one_line(tmp_path, mixing_dir, where):
    """``"\\udcff"`` written into ``classes`` (JSON can hold it): verify and merge say so, with no traceback."""
    make_inputs(tmp_path / "in", 4, labels=("ant", "bee"))
    out = tmp_path / "out"
    options = ["--output-format", "webdataset", "--samples-per-shard", "2"]
    if where == "the run record":
        assert augment(tmp_path / "in", out, mixing_dir, *options).exit_code == 0
        path = out / ".ipmix" / "ipmix_run.json"
    else:
        for index in (0, 1):
            assert augment(tmp_path / "in", out, mixing_dir, *options, "--shard", f"{index}/2").exit_code == 0
        path = out / ".ipmix" / "ipmix_run.shard-0-of-2.json"
    path.write_text(path.read_text().replace('"ant"', '"ant\\udcff"'))
    if where == "a shard's run record":
        merged = invoke("merge", out)
        assert merged.exit_code == 1 and "class list is not one ipmix writes" in merged.output
        assert "Traceback" not in merged.output
    result = verify(out)
    assert result.exit_code == 1 and "class list is not one ipmix writes" in result.output
    assert "Traceback" not in result.output


# --- the second pass: merge and --files-from decide owners too; shards that swapped an input; a stopped merge ---


def _jpeg_inputs(root: Path, names: list[str]) -> None:
    for index, name in enumerate(names):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo_like(20, 18, seed=index)).save(root / name, quality=95)


@pytest.mark.slow
def test_merge_lists_a_shared_name_for_the_input_in_in(tmp_path, mixing_dir):
    """``a.jpg`` renamed ``a.jpeg`` (same bytes: ``a_original.jpg`` keeps its name and bytes) between two rounds
    of job shards: the merged manifest lists it, as a whole run does."""
    _jpeg_inputs(tmp_path / "in", ["cat/a.jpg", "cat/b.jpg", "dog/c.jpg", "dog/d.jpg"])
    out = tmp_path / "out"
    for index in (0, 1, 2):
        assert augment(tmp_path / "in", out, mixing_dir, "--keep-original", "--shard", f"{index}/3").exit_code == 0
    (tmp_path / "in" / "cat" / "a.jpg").rename(tmp_path / "in" / "cat" / "a.jpeg")
    for index in (0, 1, 2):
        assert augment(tmp_path / "in", out, mixing_dir, "--keep-original", "--shard", f"{index}/3").exit_code == 0
    assert invoke("merge", out).exit_code == 0
    listed = names(out / "metadata.jsonl")
    assert listed.count("cat/a_original.jpg") == 1
    assert verify(out).exit_code == 0, verify(out).output


@pytest.mark.slow
def test_a_files_from_run_lists_a_shared_name_for_an_input_in_in_it_does_not_name(tmp_path, mixing_dir, monkeypatch):
    """The run that made ``a.jpeg``'s outputs was stopped before its manifest; the resume names another input
    only (``--files-from``): ``a.jpeg`` is still in IN, and owns the name its gone ``a.jpg`` shared."""
    from ipmix_cli.runner.ledger import Ledger

    _jpeg_inputs(tmp_path / "in", ["cat/a.jpg", "cat/b.jpg", "dog/c.jpg"])
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir, "--keep-original").exit_code == 0
    (tmp_path / "in" / "cat" / "a.jpg").rename(tmp_path / "in" / "cat" / "a.jpeg")
    with monkeypatch.context() as patch:

        def stopped(*arguments, **options):
            raise KeyboardInterrupt

        patch.setattr(Ledger, "finalize", stopped)
        assert augment(tmp_path / "in", out, mixing_dir, "--keep-original").exit_code != 0
    (tmp_path / "list").write_text("dog/c.jpg\n")
    assert (
        augment(tmp_path / "in", out, mixing_dir, "--keep-original", "--files-from", tmp_path / "list").exit_code == 0
    )
    assert names(out / "metadata.jsonl").count("cat/a_original.jpg") == 1
    assert verify(out).exit_code == 0, verify(out).output


def test_shards_of_a_shard_format_that_saw_an_input_swapped_for_another_are_not_merged(tmp_path, mixing_dir):
    """The same count and the same place in the order: only the digest of the keys tells the shards apart."""
    _jpeg_inputs(tmp_path / "in", [f"cat/a{index}.jpg" for index in range(8)])
    out = tmp_path / "out"
    options = ["--output-format", "webdataset", "--samples-per-shard", "4"]
    assert augment(tmp_path / "in", out, mixing_dir, *options, "--shard", "0/2").exit_code == 0
    (tmp_path / "in" / "cat" / "a0.jpg").rename(tmp_path / "in" / "cat" / "a00.jpg")
    assert augment(tmp_path / "in", out, mixing_dir, *options, "--shard", "1/2").exit_code == 0
    refused = invoke("merge", out)
    assert refused.exit_code == 1 and "re-run every shard" in refused.output


@pytest.mark.slow
@pytest.mark.parametrize("value", [[1], {"a": 1}, 1.5, None])
def test_a_shard_record_with_an_edited_inputs_digest_is_one_line(tmp_path, mixing_dir, value):
    make_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    options = ["--output-format", "webdataset", "--samples-per-shard", "2"]
    for index in (0, 1):
        assert augment(tmp_path / "in", out, mixing_dir, *options, "--shard", f"{index}/2").exit_code == 0
    path = out / ".ipmix" / "ipmix_run.shard-1-of-2.json"
    record = json.loads(path.read_text())
    record["inputs_digest"] = value
    path.write_text(json.dumps(record))
    result = invoke("merge", out)
    assert result.exit_code == 1 and "re-run every shard" in result.output and "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.parametrize("output_format", ["files", "webdataset"])
def test_a_merge_stopped_while_it_removed_the_shards_files_finishes_when_run_again(
    tmp_path, mixing_dir, monkeypatch, output_format
):
    from ipmix_cli.disk.folder import SafeFolder

    make_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    options = ["--output-format", output_format]
    for index in (0, 1, 2):
        assert augment(tmp_path / "in", out, mixing_dir, *options, "--shard", f"{index}/3").exit_code == 0
    removals = []
    original = SafeFolder.remove

    def remove(self, name):
        removals.append(name)
        if len(removals) == 4:
            raise KeyboardInterrupt  # stopped part way through the shards' files
        return original(self, name)

    with monkeypatch.context() as patch:
        patch.setattr(SafeFolder, "remove", remove)
        assert invoke("merge", out).exit_code != 0
    again = invoke("merge", out)
    assert again.exit_code == 0, again.output
    assert not [p for p in out.rglob("*shard-*")], sorted(p.name for p in out.rglob("*shard-*"))
    assert verify(out).exit_code == 0, verify(out).output
    assert augment(tmp_path / "in", out, mixing_dir, *options).exit_code == 0


def test_a_files_from_run_naming_the_other_of_a_pair_does_not_overwrite_the_first_ones_outputs(tmp_path, mixing_dir):
    """``a.jpg`` and ``a.jpeg`` (a pair a whole run refuses, suggesting ``--files-from``): a.jpg made from one list,
    then a list naming a.jpeg: a.jpeg fails alone, a.jpg's outputs stay its own."""
    _jpeg_inputs(tmp_path / "in", ["cat/a.jpg", "cat/b.jpg"])
    (tmp_path / "in" / "cat" / "a.jpeg").write_bytes((tmp_path / "in" / "cat" / "b.jpg").read_bytes())
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 2  # the pair is refused
    (tmp_path / "first").write_text("cat/a.jpg\n")
    (tmp_path / "second").write_text("cat/a.jpeg\n")
    assert augment(tmp_path / "in", out, mixing_dir, "--files-from", tmp_path / "first").exit_code == 0
    before = {name: (out / name).read_bytes() for name in names(out / "metadata.jsonl")}
    result = augment(tmp_path / "in", out, mixing_dir, "--files-from", tmp_path / "second")
    assert result.exit_code == 1 and "would overwrite those of cat/a.jpg" in result.output
    assert {name: (out / name).read_bytes() for name in names(out / "metadata.jsonl")} == before
    assert verify(out).exit_code == 0


@pytest.mark.slow
def test_prune_in_a_job_shard_keeps_the_outputs_a_present_input_of_another_shard_has(tmp_path, mixing_dir):
    """``a.jpg`` renamed ``a.jpeg`` (same output names) between rounds of job shards with ``--prune``: the gone
    input's shard removes nothing the new input, made by another shard, owns."""
    from ipmix_cli.runner.engine import shard_of

    _jpeg_inputs(tmp_path / "in", ["cat/a.jpg", "cat/b.jpg", "dog/c.jpg", "dog/d.jpg"])
    out = tmp_path / "out"
    for index in (0, 1, 2):
        assert augment(tmp_path / "in", out, mixing_dir, "--shard", f"{index}/3", "--prune").exit_code == 0
    (tmp_path / "in" / "cat" / "a.jpg").rename(tmp_path / "in" / "cat" / "a.jpeg")
    new, old = shard_of("cat/a.jpeg", 3), shard_of("cat/a.jpg", 3)
    assert new != old  # (the case: another shard prunes)
    for index in [new] + [i for i in range(3) if i != new]:
        assert augment(tmp_path / "in", out, mixing_dir, "--shard", f"{index}/3", "--prune").exit_code == 0
    assert invoke("merge", out).exit_code == 0
    assert {"cat/a_ipmix0.jpg", "cat/a_ipmix1.jpg"} <= set(names(out / "metadata.jsonl"))
    assert verify(out).exit_code == 0, verify(out).output


@pytest.mark.parametrize("case", ["whole run", "job shards"])
def test_prune_of_a_gone_input_whose_same_stem_successor_fails(tmp_path, mixing_dir, case):
    """``a.png`` gone, ``a.jpg`` (not an image) in its place with ``--format png``: a whole run's ``--prune``
    removes a.png's outputs. Job shards keep the file for the other shard's input, which fails: the merged OUT
    lists what it holds but that file, which verify names (ipmix deletes no file its ledger does not name)."""
    (tmp_path / "in").mkdir()
    for name, seed in (("a.png", 1), ("b.png", 2), ("c.png", 3), ("d.png", 4)):
        Image.fromarray(photo_like(20, 18, seed=seed)).save(tmp_path / "in" / name)
    out = tmp_path / "out"
    runs = [["--shard", "0/2"], ["--shard", "1/2"]] if case == "job shards" else [[]]
    for extra in runs:
        assert augment(tmp_path / "in", out, mixing_dir, "--format", "png", "--prune", *extra).exit_code == 0
    (tmp_path / "in" / "a.png").unlink()
    (tmp_path / "in" / "a.jpg").write_text("not an image")
    codes = [
        augment(tmp_path / "in", out, mixing_dir, "--format", "png", "--prune", *extra).exit_code for extra in runs
    ]
    assert sorted(set(codes)) == ([0, 1] if len(runs) == 2 else [1])  # a.jpg fails in its run
    if case == "whole run":
        assert not (out / "a_ipmix0.png").exists()
        assert verify(out).exit_code == 0, verify(out).output
        return
    assert invoke("merge", out).exit_code == 0
    checked = verify(out)
    assert checked.exit_code == 1 and "a_ipmix0.png: in OUT but not in the manifest" in checked.output
    assert "missing" not in checked.output


@pytest.mark.slow
@pytest.mark.parametrize("order", ["the gone input's shard first", "the new input's shard first"])
def test_prune_in_job_shards_with_renamed_inputs_both_ways_merges_whole(tmp_path, mixing_dir, order):
    """Same-stem renames whose gone and new inputs fall in different job shards, both ways (``--format png``,
    every shard with ``--prune``): in either order of the shards' runs the merge lists every output once."""
    from ipmix_cli.runner.engine import shard_of

    (tmp_path / "in").mkdir()
    stems = [f"p{index:02d}" for index in range(24)]
    for index, stem in enumerate(stems):
        Image.fromarray(photo_like(20, 18, seed=index)).save(tmp_path / "in" / f"{stem}.png")
    out = tmp_path / "out"
    for index in (0, 1):
        assert augment(tmp_path / "in", out, mixing_dir, "--format", "png", "--shard", f"{index}/2").exit_code == 0
    crossing = [stem for stem in stems if shard_of(f"{stem}.png", 2) != shard_of(f"{stem}.jpg", 2)]
    assert {shard_of(f"{stem}.png", 2) for stem in crossing} == {0, 1}  # (both ways)
    for stem in crossing:
        Image.open(tmp_path / "in" / f"{stem}.png").save(tmp_path / "in" / f"{stem}.jpg", quality=95)
        (tmp_path / "in" / f"{stem}.png").unlink()
    for index in (0, 1) if order.startswith("the gone") else (1, 0):
        options = ["--format", "png", "--prune", "--shard", f"{index}/2"]
        assert augment(tmp_path / "in", out, mixing_dir, *options).exit_code == 0
    assert invoke("merge", out).exit_code == 0, invoke("merge", out).output
    listed = names(out / "metadata.jsonl")
    assert len(listed) == len(set(listed)) == 2 * len(stems)
    assert verify(out).exit_code == 0, verify(out).output
