#!/usr/bin/env python3
"""Writes the WebNLG and DART subsets of examples/data/ (see their README.md) from the full files:
every STEP-th entry, in file order (WebNLG's training files in byte order of their paths), so that
a subset spans the categories and sources of the whole file.  Only what spdf_task_data_load reads
is kept: the <mtriple>s and <lex> texts of an XML entry, the tripleset and annotation texts of a
DART JSON element.

usage: scripts/task_subsets.py SHARED_DATA_DIR OUTPUT_DATA_DIR"""
import glob
import json
import os
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

WEBNLG_TRAIN_STEP, WEBNLG_TEST_STEP = 6, 6
DART_TRAIN_STEP, DART_TEST_STEP = 3, 10


def xml_entries(paths):
    for path in paths:
        for entry in ET.parse(path).getroot().iter("entry"):
            yield entry


def write_xml(entries, path):
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write("<?xml version='1.0' encoding='utf-8'?>\n<benchmark>\n  <entries>\n")
        for entry in entries:
            out.write("    <entry category=%s eid=%s size=%s>\n" % (
                quoteattr(entry.get("category", "")), quoteattr(entry.get("eid", "")),
                quoteattr(entry.get("size", ""))))
            out.write("      <modifiedtripleset>\n")
            for triple in entry.iter("mtriple"):
                out.write("        <mtriple>%s</mtriple>\n" % escape(triple.text or ""))
            out.write("      </modifiedtripleset>\n")
            for lex in entry.iter("lex"):
                out.write("      <lex>%s</lex>\n" % escape(lex.text or ""))
            out.write("    </entry>\n")
        out.write("  </entries>\n</benchmark>\n")


def every(items, step):
    return [item for i, item in enumerate(items) if i % step == 0]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    shared, out = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "webnlg"), exist_ok=True)
    os.makedirs(os.path.join(out, "dart"), exist_ok=True)
    train_paths = sorted(glob.glob(os.path.join(shared, "webnlg", "train", "*", "*.xml")),
                         key=lambda p: p.encode())
    write_xml(every(list(xml_entries(train_paths)), WEBNLG_TRAIN_STEP), os.path.join(out, "webnlg", "train.xml"))
    write_xml(every(list(xml_entries([os.path.join(shared, "webnlg", "testdata_with_lex.xml")])), WEBNLG_TEST_STEP),
              os.path.join(out, "webnlg", "test.xml"))
    with open(os.path.join(shared, "dart", "dart-v1.1.1-full-dev.json"), encoding="utf-8") as f:
        dev = json.load(f)
    kept = [{"tripleset": item["tripleset"], "annotations": [{"text": a["text"]} for a in item["annotations"]]}
            for item in every(dev, DART_TRAIN_STEP)]
    with open(os.path.join(out, "dart", "train.json"), "w", encoding="utf-8", newline="\n") as f:
        f.write("[\n" + ",\n".join(json.dumps(item, ensure_ascii=False) for item in kept) + "\n]\n")
    write_xml(every(list(xml_entries([os.path.join(shared, "dart", "dart-v1.1.1-full-test.xml")])), DART_TEST_STEP),
              os.path.join(out, "dart", "test.xml"))


if __name__ == "__main__":
    main()
