//! `attrib paths` over ChannelAttribution's path-summary format.

use attrib::commands::paths::{attribute_file as run, read_paths, OutputFormat, PathsOptions};
use attrib_models::{MarkovParams, PathModel};
use attrib_tests::TempDir;

fn options(models: &[PathModel], format: OutputFormat) -> PathsOptions {
    PathsOptions {
        models: models.to_vec(),
        markov: MarkovParams::default(),
        separator: ">".into(),
        path_column: "path".into(),
        conversions_column: "total_conversions".into(),
        value_column: "total_conversion_value".into(),
        null_column: "total_null".into(),
        format,
    }
}

fn run_text(text: &str, o: &PathsOptions) -> String {
    let dir = TempDir::new("paths");
    let file = dir.path().join("paths.csv");
    std::fs::write(&file, text).expect("write");
    run(&file, o).expect("paths")
}

const REFERENCE: &str = "path,total_conversions,total_conversion_value,total_null\n\
\"A > B\",1,100,1\nB,1,50,1\n\"A > C > B\",0,0,2\nC,1,30,1\n";

type CsvRow = (String, String, f64, f64, String, String, String);

fn csv_rows(out: &str) -> Vec<CsvRow> {
    let mut r = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(
        r.headers().expect("header").iter().collect::<Vec<_>>(),
        ["channel", "model", "conversions", "value", "removal_effect", "value_removal_effect", "shapley_value"]
    );
    r.records()
        .map(|rec| {
            let rec = rec.expect("row");
            (
                rec[0].to_string(),
                rec[1].to_string(),
                rec[2].parse().expect("f64"),
                rec[3].parse().expect("f64"),
                rec[4].to_string(),
                rec[5].to_string(),
                rec[6].to_string(),
            )
        })
        .collect()
}

#[test]
fn the_reference_case_gives_the_published_markov_figures() {
    let out = run_text(REFERENCE, &options(&[PathModel::Markov], OutputFormat::Csv));
    let rows = csv_rows(&out);
    let expect = [("A", 0.870_967_741_9, 0.5), ("B", 1.161_290_322_6, 2.0 / 3.0), ("C", 0.967_741_935_5, 5.0 / 9.0)];
    assert_eq!(rows.len(), 3);
    for ((channel, model, conv, _value, re, _, _), (c, want, want_re)) in rows.iter().zip(expect) {
        assert_eq!((channel.as_str(), model.as_str()), (c, "markov"));
        assert!((conv - want).abs() < 1e-9, "{channel}: {conv}");
        assert!((re.parse::<f64>().expect("re") - want_re).abs() < 1e-9);
    }
}

#[test]
fn every_model_sums_to_the_input_totals_and_only_markov_and_shapley_have_their_values() {
    let out = run_text(REFERENCE, &options(&PathModel::ALL, OutputFormat::Csv));
    let rows = csv_rows(&out);
    for m in PathModel::ALL {
        let of: Vec<_> = rows.iter().filter(|r| r.1 == m.as_str()).collect();
        assert!((of.iter().map(|r| r.2).sum::<f64>() - 3.0).abs() < 1e-9, "{}", m.as_str());
        assert!((of.iter().map(|r| r.3).sum::<f64>() - 180.0).abs() < 1e-9, "{}", m.as_str());
        assert!(of.iter().all(|r| r.4.is_empty() == (m != PathModel::Markov)));
        assert!(of.iter().all(|r| r.5.is_empty() == (m != PathModel::Markov)));
        assert!(of.iter().all(|r| r.6.is_empty() == (m != PathModel::Shapley)));
    }
}

#[test]
fn shapley_plays_one_game_per_converting_path() {
    // CR{A,B} = 1/2, CR{B} = 1/2, CR{C} = 1/2, CR{A,B,C} = 0, CR{A} unseen = 0.
    // A > B: φ_A = ½·0 + ½·(1/2 − 1/2) = 0, φ_B = ½·(1/2) + ½·(1/2 − 0) = 1/2 → all to B.
    // B alone and C alone keep theirs. A's mean φ over its converting paths is 0.
    let rows = csv_rows(&run_text(REFERENCE, &options(&[PathModel::Shapley], OutputFormat::Csv)));
    let got: Vec<(&str, f64, f64, f64)> =
        rows.iter().map(|r| (r.0.as_str(), r.2, r.3, r.6.parse::<f64>().expect("shapley_value"))).collect();
    assert_eq!(got, vec![("A", 0.0, 0.0, 0.0), ("B", 2.0, 150.0, 0.5), ("C", 1.0, 30.0, 0.5)]);
}

#[test]
fn json_reports_the_transition_matrix_and_the_value_weighted_effects() {
    let out = run_text(REFERENCE, &options(&[PathModel::Markov], OutputFormat::Json));
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    let matrix = doc["markov"]["transition_matrix"].as_array().expect("transition_matrix");
    let row = |from: &str, to: &str| {
        matrix
            .iter()
            .find(|r| r["channel_from"] == from && r["channel_to"] == to)
            .and_then(|r| r["transition_probability"].as_f64())
    };
    assert_eq!(row("(start)", "A"), Some(0.5));
    assert_eq!(row("C", "(conversion)"), Some(0.25));
    assert_eq!(row("B", "(null)"), Some(4.0 / 6.0));
    assert_eq!(doc["markov"]["expected_value"].as_f64(), Some(22.5));
    let b = doc["rows"].as_array().expect("rows").iter().find(|r| r["channel"] == "B").expect("B");
    assert!((b["value_removal_effect"].as_f64().expect("value RE") - 5.0 / 6.0).abs() < 1e-12);
}

#[test]
fn semicolons_custom_columns_and_separators_are_understood() {
    let text = "journey;conv;revenue;lost\nA | B;1;100;1\nB;1;50;1\nA | C | B;0;0;2\nC;1;30;1\n";
    let mut o = options(&[PathModel::Markov], OutputFormat::Csv);
    o.separator = "|".into();
    o.path_column = "journey".into();
    o.conversions_column = "conv".into();
    o.value_column = "revenue".into();
    o.null_column = "lost".into();
    assert_eq!(
        csv_rows(&run_text(text, &o)).iter().map(|r| r.2).collect::<Vec<_>>(),
        csv_rows(&run_text(REFERENCE, &options(&[PathModel::Markov], OutputFormat::Csv)))
            .iter()
            .map(|r| r.2)
            .collect::<Vec<_>>()
    );
}

#[test]
fn the_order_of_input_rows_never_changes_the_output() {
    let lines: Vec<&str> = REFERENCE.lines().collect();
    let reversed = std::iter::once(lines[0]).chain(lines[1..].iter().rev().copied()).collect::<Vec<_>>().join("\n");
    for format in [OutputFormat::Csv, OutputFormat::Json, OutputFormat::Table] {
        let o = options(&PathModel::ALL, format);
        assert_eq!(run_text(REFERENCE, &o), run_text(&reversed, &o));
    }
}

#[test]
fn a_missing_column_is_a_clear_error() {
    let e = read_paths("route,total_conversions\nA,1\n", &options(&PathModel::ALL, OutputFormat::Csv))
        .expect_err("no path column");
    assert!(e.to_string().contains("no column \"path\""), "{e}");
    let e = read_paths("path,total_conversions\nA,lots\n", &options(&PathModel::ALL, OutputFormat::Csv))
        .expect_err("bad number");
    assert!(e.to_string().contains("not a number"), "{e}");
}

#[test]
fn the_command_line_runs_paths() {
    let dir = TempDir::new("paths-cli");
    let file = dir.path().join("p.csv");
    std::fs::write(&file, REFERENCE).expect("write");
    attrib_tests::attrib(&[
        "paths",
        "--input",
        file.to_str().expect("utf-8"),
        "--model",
        "shapley",
        "--format",
        "json",
    ])
    .expect("runs");
    assert!(attrib_tests::attrib(&["paths", "--input", file.to_str().expect("utf-8"), "--model", "nope"]).is_err());
}
