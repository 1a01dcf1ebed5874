"""What the LCM review tells a person of how sure the LCM is."""
from a2lc_napari._review import how_sure
from a2lc_napari.engine.state import LCMProposal


def test_how_sure_says_why_nothing_is_proposed_and_what_is_expected():
    assert how_sure(None, 0.9) == ""
    assert "cannot vouch that 90%" in how_sure(LCMProposal(tau=None), 0.9)
    assert how_sure(LCMProposal(tau=0.8, reach=0.5, estimated_precision=96.43,
                                held_out_changes=28, lower_precision=88.2), 0.9) == (
        "It expects 96% of its proposals to be right, and at least 88%: 27 of the 28 "
        "answers it would have changed, held out of its training, came out right "
        "(confidence ≥ 0.8).")
    assert "at least 75%: all 8 answers" in how_sure(
        LCMProposal(tau=0.5, reach=0.5, estimated_precision=100.0, held_out_changes=8,
                    lower_precision=74.99), 0.9)
    assert "no estimate" in how_sure(LCMProposal(tau=0.99), 0.9)  # the paper's LCM
