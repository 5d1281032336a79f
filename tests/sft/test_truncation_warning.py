"""A source whose examples are cut at data.seq_len more than a few % of the time is named in a warning."""

from jaforge.sft.dataset import warn_truncation


def test_warns_only_for_sources_truncated_beyond_the_share(caplog):
    report = {"chat": {"examples": 50, "truncated": 20, "dropped": 3},
              "dolly_ja": {"examples": 100, "truncated": 2, "dropped": 0}}
    with caplog.at_level("WARNING", logger="jaforge.sft.dataset"):
        warn_truncation(report, 256)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "23 of 53 chat examples are longer than data.seq_len 256" in messages[0]
    assert "3 lost every response token" in messages[0]
