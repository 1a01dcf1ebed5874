"""The round summary's table: what each round changed, and how sure the LCM was."""
import re

from a2lc_napari._summary import summary_table
from a2lc_napari.engine.state import RoundRecord


def record(round_, **kw):
    return RoundRecord(round=round_, queries=kw.pop("queries", 0), manual_changes=0,
                       hand_pixels=0, lcm_changes=kw.pop("lcm_changes", 0), lcm_correct=0,
                       class_pixels=[1, 1], ignore_pixels=0, **kw)


def cells(html):
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)
            for row in re.findall(r"<tr>(.*?)</tr>", html)]


def test_the_table_shows_the_lcm_estimate_and_with_ground_truth_its_precision():
    history = [record(0, data_miou=50.0),
               record(1, queries=30, lcm_changes=12, lcm_estimated_precision=93.24,
                      lcm_precision=91.67, data_miou=55.54)]
    assert cells(summary_table(history)) == [
        ["round", "answered", "by hand", "by LCM", "LCM sure %", "LCM right %",
         "data mIoU %"],
        ["0", "0", "0", "0", "", "", "50.0"],
        ["1", "30", "0", "12", "93.2", "91.7", "55.5"]]


def test_without_ground_truth_only_the_estimate():
    history = [record(0), record(1, lcm_changes=3, lcm_estimated_precision=100.0)]
    assert cells(summary_table(history))[0][-1] == "LCM sure %"
    assert cells(summary_table(history))[2] == ["1", "0", "0", "3", "100.0"]
