"""The station page's message log reads as what happened: action, answer status, error code."""

from datetime import UTC, datetime

from stations.admin import readable_frames


def test_frames_say_what_they_are():
    frames = readable_frames([
        {"at": "2026-12-06T10:00:00.123Z", "direction": "in", "frame": '[2,"1","BootNotification",{}]'},
        {"at": "2026-12-06T10:00:00.200Z", "direction": "out", "frame": '[3,"1",{"status":"Accepted"}]'},
        {"at": "2026-12-06T10:00:01Z", "direction": "out", "frame": '[3,"2",{"idTagInfo":{"status":"Blocked"}}]'},
        {"at": "2026-12-06T10:00:02Z", "direction": "out", "frame": '[4,"3","FormationViolation","bad",{}]'},
        {"at": "2026-12-06T10:00:03Z", "direction": "in", "frame": "not json"},
    ])
    assert [(f["kind"], f["summary"]) for f in frames] == [
        ("call", "BootNotification"), ("answer", "Accepted"), ("answer", "Blocked"),
        ("error", "FormationViolation: bad"), ("unreadable", ""),
    ]
    assert frames[0]["at"] == datetime(2026, 12, 6, 10, 0, 0, 123000, tzinfo=UTC)
    assert readable_frames(None) is None
