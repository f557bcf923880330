"""URL parameter checks (dln_core.urlparams)."""

from dln_core.urlparams import BadParam, check_query

SPEC = {"depth": ("int", 1, 8), "lr": ("float", 0.0, 10.0), "init": ("choice", ["gaussian", "aligned"]),
        "show_gd": ("bool",)}


def test_good_values_and_unknown_parameters_pass():
    assert check_query({"depth": "3", "lr": "0.5", "init": "aligned", "show_gd": "true", "other": "x"}, SPEC) == []


def test_each_bad_value_is_named_with_its_rule():
    bad = check_query({"depth": "abc", "lr": "-1", "init": "bogus", "show_gd": "maybe"}, SPEC)
    assert [b.name for b in bad] == ["depth", "lr", "init", "show_gd"]
    assert bad[0] == BadParam("depth", "abc", "not a number; allowed range [1, 8]")
    assert bad[1].reason == "outside the allowed range [0, 10]"
    assert bad[2].reason == "must be one of gaussian, aligned"
    assert check_query({"lr": "nan"}, SPEC)[0].reason.startswith("not a finite number")
    assert check_query({"depth": "2.5"}, SPEC)[0].reason == "must be an integer in [1, 8]"
    assert bad[0].message(2) == "URL parameter depth='abc' ignored (not a number; allowed range [1, 8]); using depth = 2."
