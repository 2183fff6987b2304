//! The `converter` binary as a user runs it: `--help` of every subcommand, a clear error
//! for every malformed CSV file, and train -> inspect -> verify on the string-labelled
//! Iris fixture, with the reported numbers checked against the function's runtime.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use model::{Batch, Labels, Model, Predicted};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_converter");

/// The string-labelled Iris fixture: 150 rows, 4 features, `species` last.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/iris.csv")
}

/// 600 rows, 6 features, 3 string classes: `sklearn.datasets.make_classification(
/// n_samples=600, n_features=6, n_informative=4, n_classes=3, random_state=7)` written
/// with 5 decimals, the file on which two runs of linfa-trees grew different forests.
fn three_classes_600() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/classes-600.csv")
}

/// 400 rows of a made-up churn table: numeric `age`, `income`, `tenure` (with empty and
/// `NA` cells), categorical `region` (accented, spaced names) and `plan` (with empty and
/// `?` cells), string target `churn`.
fn churn_mixed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/churn-mixed.csv")
}

/// The bundled model, `models/iris-forest.onnx`.
fn bundled() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/iris-forest.onnx")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("converter-cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn converter(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn ok_json(args: &[&str]) -> Value {
    let out = converter(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not a terminal: no progress bar, nothing on stderr, only the JSON on stdout.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every option of `--help` paired with its help text.
fn options(help: &str) -> Vec<(String, String)> {
    let mut options: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('-') && line.len() - trimmed.len() <= 6 {
            let flag = trimmed.split([' ', ',']).next().unwrap().to_string();
            // Short help puts the text on the flag's line, after two spaces.
            let text = trimmed.split_once("  ").map_or("", |(_, t)| t.trim());
            options.push((flag, format!("{text} ")));
        } else if let Some((_, text)) = options.last_mut() {
            text.push_str(trimmed);
            text.push(' ');
        }
    }
    options
}

#[test]
fn help_of_every_subcommand_explains_each_flag_and_its_default() {
    // Flags that take no value or must be given have no default to show.
    let no_default = ["-h", "--help", "--json", "--data"];
    for sub in ["train", "inspect", "verify"] {
        let out = converter(&[sub, "--help"]);
        assert!(out.status.success());
        let help = String::from_utf8(out.stdout).unwrap();
        let options = options(&help);
        assert!(options.len() >= 2, "{sub}: {help}");
        for (flag, text) in &options {
            assert!(
                text.trim().len() >= 10,
                "{sub} {flag} is not explained: {help}"
            );
            if !no_default.contains(&flag.as_str()) {
                let shown = text.contains("[default") || text.contains("[required");
                assert!(shown, "{sub} {flag} shows no default: {text}");
            }
        }
    }
    let train = String::from_utf8(converter(&["train", "--help"]).stdout).unwrap();
    for flag in [
        "--trees",
        "--max-depth",
        "--min-samples-split",
        "--min-samples-leaf",
        "--feature-fraction",
        "--bootstrap-fraction",
        "--seed",
        "--alpha",
        "--max-iterations",
        "--test-fraction",
        "--folds",
        "--target",
        "--features",
    ] {
        assert!(train.contains(flag), "train --help lacks {flag}");
    }
}

#[test]
fn every_malformed_file_gets_an_error_naming_the_problem() {
    let cases: [(&str, &str, &str); 9] = [
        ("empty", "", "is empty"),
        ("header-only", "a,b,kind\n", "header row but no data rows"),
        (
            "missing-target",
            "a,b,kind\n1,2,x\n3,4,\n",
            "line 3, column 3 `kind`: missing value",
        ),
        (
            "empty-column",
            "a,b,kind\n1,,x\n1,NA,y\n",
            "column 2 `b`: every one of the 2 rows is missing a value",
        ),
        (
            "infinite",
            "a,b,kind\n1,2,x\n1,inf,y\n",
            "line 3, column 2 `b`: `inf` is not a finite",
        ),
        (
            "ragged",
            "a,b,kind\n1,2,x\n1,2\n",
            "line 3: 2 fields, but the header has 3",
        ),
        (
            "one-class",
            "a,b,kind\n1,2,x\n3,4,x\n",
            "has one class (`x`)",
        ),
        (
            "no-target",
            "a,b,c\n1,2,x\n",
            "has no column `kind` (the target column); its columns are: a, b, c",
        ),
        (
            "quoted",
            "a,b,kind\n1,2,x\n\"3,4,y\n",
            "fields, but the header has 3",
        ),
    ];
    for (name, text, expected) in cases {
        let path = scratch(&format!("{name}.csv"));
        std::fs::write(&path, text).unwrap();
        let out = converter(&[
            "train",
            "--data",
            path.to_str().unwrap(),
            "--target",
            "kind",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was accepted");
        assert!(
            out.stdout.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(stderr.starts_with("error: "), "{name}: {stderr}");
        assert!(stderr.contains(path.to_str().unwrap()), "{name}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{name}: expected `{expected}` in {stderr}"
        );
        assert_eq!(
            stderr.lines().count(),
            1,
            "{name}: one line, no backtrace: {stderr}"
        );
    }
}

#[test]
fn a_file_that_is_not_utf8_is_refused_naming_the_line() {
    let path = scratch("latin1.csv");
    std::fs::write(&path, b"a,kind\n1,x\n2,caf\xe9\n").unwrap();
    let out = converter(&[
        "train",
        "--data",
        path.to_str().unwrap(),
        "--target",
        "kind",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("line 3") && stderr.contains("UTF-8"),
        "{stderr}"
    );
}

#[test]
fn a_mixed_file_trains_a_graph_of_one_input_per_column_that_tract_agrees_with() {
    let data = churn_mixed();
    let data = data.to_str().unwrap();
    for model in ["forest", "tree", "logistic"] {
        let onnx = scratch(&format!("churn-{model}.onnx"));
        let report = ok_json(&[
            "train",
            "--data",
            data,
            "--target",
            "churn",
            "--model",
            model,
            "--trees",
            "20",
            "--json",
            "-o",
            onnx.to_str().unwrap(),
        ]);
        let columns = &report["data"]["columns"];
        let types: Vec<&str> = (0..5)
            .map(|i| columns[i]["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "numeric",
                "categorical",
                "numeric",
                "categorical",
                "numeric"
            ]
        );
        // Counted here from the file: empty and NA cells per column.
        let text = std::fs::read_to_string(churn_mixed()).unwrap();
        for (i, column) in ["age", "region", "income", "plan", "tenure"]
            .iter()
            .enumerate()
        {
            let missing = text
                .lines()
                .skip(1)
                .filter(|l| ["", "NA", "?"].contains(&l.split(',').nth(i).unwrap()))
                .count();
            assert_eq!(columns[i]["missing"], missing, "{column}");
            assert_eq!(columns[i]["name"], *column);
        }
        assert_eq!(report["tract_check"]["agreeing"], 400, "{model}: {report}");
        // verify reads the file's columns into the model's inputs by name.
        let verified = ok_json(&["verify", onnx.to_str().unwrap(), "--data", data, "--json"]);
        assert_eq!(verified["target"], "churn");
        assert_eq!(
            verified["features"],
            serde_json::json!(["age", "region", "income", "plan", "tenure"])
        );
        assert_eq!(verified["evaluation"]["rows"], 400);
        let accuracy = verified["evaluation"]["accuracy"].as_f64().unwrap();
        assert!(accuracy > 0.7, "{model}: {accuracy}");
        let summary = ok_json(&["inspect", onnx.to_str().unwrap(), "--json"]);
        let inputs = summary["inputs"].as_array().unwrap();
        let described: Vec<String> = inputs
            .iter()
            .map(|i| format!("{} {} {}", i["name"], i["elem_type"], i["shape"]))
            .collect();
        assert_eq!(
            described,
            [
                r#""age" "float" ["N","1"]"#,
                r#""region" "string" ["N","1"]"#,
                r#""income" "float" ["N","1"]"#,
                r#""plan" "string" ["N","1"]"#,
                r#""tenure" "float" ["N","1"]"#,
            ],
            "{model}"
        );
    }
    // Forced numeric, the text column is an error naming its first text cell.
    let out = converter(&[
        "train",
        "--data",
        data,
        "--target",
        "churn",
        "--numeric",
        "region",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2, column 2 `region`: `Île-de-France` is not a number"),
        "{stderr}"
    );
}

#[test]
fn a_missing_file_and_bad_flags_are_refused_before_any_work() {
    let out = converter(&["train", "--data", "/nonexistent.csv", "--target", "y"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent.csv"));
    let out = converter(&["train", "--data", fixture().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target"));
    for (flag, value) in [
        ("--feature-fraction", "0"),
        ("--folds", "1"),
        ("--test-fraction", "1"),
    ] {
        let out = converter(&["train", flag, value, "-o", "/nonexistent/x.onnx"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{flag}: {stderr}");
    }
}

/// Labels the function's runtime predicts for the fixture's rows, and the fixture's own.
fn served_and_true_labels(onnx: &Path) -> (Vec<String>, Vec<String>) {
    let model = Model::from_path(onnx).unwrap();
    let text = std::fs::read_to_string(fixture()).unwrap();
    let mut values = Vec::new();
    let mut truth = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        values.extend(fields[..4].iter().map(|v| v.parse::<f32>().unwrap()));
        truth.push(fields[4].to_string());
    }
    let Predicted::Labels(Labels::Str(served)) =
        model.predict(&Batch::new(values, 4)).unwrap().predicted
    else {
        panic!("a string target gives string labels")
    };
    (served, truth)
}

#[test]
fn string_target_trains_inspects_and_verifies() {
    let data = fixture();
    let data = data.to_str().unwrap();
    for model in ["forest", "tree", "logistic"] {
        let onnx = scratch(&format!("iris-{model}.onnx"));
        let onnx_str = onnx.to_str().unwrap();
        let report = ok_json(&[
            "train", "--data", data, "--target", "species", "--model", model, "--trees", "25",
            "--folds", "4", "--json", "-o", onnx_str,
        ]);
        let evaluation = &report["evaluation"];
        assert_eq!(evaluation["rows"], 150, "{model}");
        let matrix: Vec<Vec<u64>> =
            serde_json::from_value(evaluation["confusion"]["matrix"].clone()).unwrap();
        let diagonal: u64 = (0..3).map(|i| matrix[i][i]).sum();
        assert_eq!(evaluation["correct"], diagonal, "{model}");
        assert_eq!(
            report["data"]["class_names"],
            serde_json::json!(["setosa", "versicolor", "virginica"])
        );
        assert_eq!(report["tract_check"]["agreeing"], 150, "{model}");
        assert!(
            evaluation["accuracy"].as_f64().unwrap() > 0.85,
            "{model}: {evaluation}"
        );

        let summary = ok_json(&["inspect", onnx_str, "--json"]);
        assert_eq!(summary["outputs"][0]["elem_type"], "string", "{model}");
        assert_eq!(summary["inputs"][0]["shape"], serde_json::json!(["N", "4"]));
        if model != "logistic" {
            let trees = &summary["tree_ensembles"][0];
            assert_eq!(trees["trees"], if model == "forest" { 25 } else { 1 });
            assert_eq!(trees["classes"], report["data"]["class_names"]);
        }

        // verify's numbers are what the function's runtime predicts, counted here.
        let verified = ok_json(&["verify", onnx_str, "--data", data, "--json"]);
        let (served, truth) = served_and_true_labels(&onnx);
        let agreeing = served.iter().zip(&truth).filter(|(s, t)| s == t).count();
        assert_eq!(verified["evaluation"]["correct"], agreeing, "{model}");
        assert_eq!(verified["target"], "species");
    }
}

#[test]
fn verify_reads_columns_by_the_model_feature_names_in_any_file_order() {
    let onnx = scratch("order.onnx");
    ok_json(&[
        "train",
        "--trees",
        "10",
        "--json",
        "-o",
        onnx.to_str().unwrap(),
    ]);
    // The bundled Iris model has int labels 0..2 and the fixture's feature names; write
    // the fixture with its columns reversed and its classes as integers.
    let names = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
    let text = std::fs::read_to_string(fixture()).unwrap();
    let mut csv = format!(
        "class,{}\n",
        names.iter().rev().copied().collect::<Vec<_>>().join(",")
    );
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let class = ["setosa", "versicolor", "virginica"]
            .iter()
            .position(|c| *c == f[4])
            .unwrap();
        csv.push_str(&format!("{class},{},{},{},{}\n", f[3], f[2], f[1], f[0]));
    }
    let reversed = scratch("reversed.csv");
    std::fs::write(&reversed, csv).unwrap();
    let verified = ok_json(&[
        "verify",
        onnx.to_str().unwrap(),
        "--data",
        reversed.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(verified["features"], serde_json::json!(names));
    assert_eq!(verified["target"], "class");
    assert!(
        verified["evaluation"]["accuracy"].as_f64().unwrap() > 0.9,
        "{verified}"
    );
}

/// The README's first check: the bundled model against the bundled CSV, whose classes
/// are the names of the model's integer labels.
#[test]
fn the_bundled_model_verifies_against_the_bundled_csv() {
    let (model, data) = (bundled(), fixture());
    let args = [
        "verify",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ];
    let verified = ok_json(&[&args[..], &["--json"]].concat());
    assert_eq!(verified["target"], "species");
    assert_eq!(verified["labels_as_class_names"], true);
    assert_eq!(verified["evaluation"]["rows"], 150);
    assert!(
        verified["evaluation"]["accuracy"].as_f64().unwrap() > 0.9,
        "{verified}"
    );
    let text = String::from_utf8(converter(&args).stdout).unwrap();
    assert!(
        text.contains("labels: the model's, read as its class names"),
        "{text}"
    );
}

#[test]
fn verify_refuses_labels_the_model_never_answers() {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let colours = text
        .replace("setosa", "red")
        .replace("versicolor", "green")
        .replace("virginica", "blue");
    let path = scratch("colours.csv");
    std::fs::write(&path, colours).unwrap();
    let model = bundled();
    let out = converter(&[
        "verify",
        model.to_str().unwrap(),
        "--data",
        path.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "disjoint labels were accepted");
    assert!(
        out.stdout.is_empty(),
        "no report: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("none of the labels in column `species` (red, green, blue)"),
        "{stderr}"
    );
}

#[test]
fn inspect_names_a_protobuf_error_once() {
    let path = scratch("not-a-model.onnx");
    std::fs::write(&path, "sepal_length,species\n5.1,setosa\n").unwrap();
    let out = converter(&["inspect", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("not an ONNX model: failed to decode"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("failed to decode").count(), 1, "{stderr}");
}

#[test]
fn two_runs_of_the_same_command_write_the_same_bytes() {
    let classes = three_classes_600();
    let mixed = churn_mixed();
    let diabetes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/diabetes.csv");
    // 3 classes of 5-decimal values; categorical and missing cells; a regression.
    let cases = [
        (&classes, "kind", "forest"),
        (&classes, "kind", "tree"),
        (&mixed, "churn", "forest"),
        (&mixed, "churn", "logistic"),
        (&diabetes, "progression", "forest"),
        (&diabetes, "progression", "linear"),
    ];
    for (data, target, model) in cases {
        let written: Vec<Vec<u8>> = (0..2)
            .map(|run| {
                let onnx = scratch(&format!("same-{target}-{model}-{run}.onnx"));
                ok_json(&[
                    "train",
                    "--data",
                    data.to_str().unwrap(),
                    "--target",
                    target,
                    "--model",
                    model,
                    "--trees",
                    "30",
                    "--json",
                    "-o",
                    onnx.to_str().unwrap(),
                ]);
                std::fs::read(onnx).unwrap()
            })
            .collect();
        assert!(
            written[0] == written[1],
            "{target} {model}: two runs wrote different files"
        );
    }
}

#[test]
fn two_class_forests_are_served_as_they_voted() {
    // Versicolor against virginica: the two classes that overlap, so votes split.
    let text = std::fs::read_to_string(fixture()).unwrap();
    let two: String =
        text.lines()
            .filter(|l| !l.ends_with("setosa"))
            .fold(String::new(), |mut out, line| {
                out.push_str(line);
                out.push('\n');
                out
            });
    let path = scratch("two-classes.csv");
    std::fs::write(&path, two).unwrap();
    for model in ["forest", "tree"] {
        let onnx = scratch(&format!("two-classes-{model}.onnx"));
        let report = ok_json(&[
            "train",
            "--data",
            path.to_str().unwrap(),
            "--target",
            "species",
            "--model",
            model,
            "--trees",
            "15",
            "--json",
            "-o",
            onnx.to_str().unwrap(),
        ]);
        assert_eq!(report["data"]["rows"], 100);
        assert_eq!(report["tract_check"]["agreeing"], 100, "{model}: {report}");
    }
}

#[test]
fn a_numeric_target_with_many_values_trains_regressors_that_tract_agrees_with() {
    // y = 3a - 2b + 0.5 c^2 on a grid: a value per row, far more than 20 distinct.
    let mut csv = String::from("a,b,c,y\n");
    for i in 0..120 {
        let (a, b, c) = ((i % 7) as f64, (i % 11) as f64 / 2.0, (i % 5) as f64);
        csv.push_str(&format!(
            "{a},{b},{c},{}\n",
            3.0 * a - 2.0 * b + 0.5 * c * c
        ));
    }
    let path = scratch("regression.csv");
    std::fs::write(&path, csv).unwrap();
    for (model, min_r2) in [("forest", 0.8), ("tree", 0.8), ("linear", 0.9)] {
        let onnx = scratch(&format!("regression-{model}.onnx"));
        let report = ok_json(&[
            "train",
            "--data",
            path.to_str().unwrap(),
            "--target",
            "y",
            "--model",
            model,
            "--folds",
            "3",
            "--json",
            "-o",
            onnx.to_str().unwrap(),
        ]);
        assert_eq!(report["task"], "regression", "{model}");
        let r2 = report["evaluation"]["r2"].as_f64().unwrap();
        assert!(r2 > min_r2, "{model}: r2 {r2}");
        assert!(report["evaluation"]["rmse"].as_f64().unwrap() >= 0.0);
        assert_eq!(report["tract_check"]["agreeing"], 120, "{model}: {report}");
        let summary = ok_json(&["inspect", onnx.to_str().unwrap(), "--json"]);
        assert_eq!(summary["outputs"][0]["name"], "variable", "{model}");
        // verify scores the served values against the file's: the model was trained on
        // every row, so it fits them at least as well as cross-validation said.
        let verified = ok_json(&[
            "verify",
            onnx.to_str().unwrap(),
            "--data",
            path.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(verified["target"], "y");
        assert!(
            verified["evaluation"]["r2"].as_f64().unwrap() >= r2 - 0.05,
            "{model}: {verified}"
        );
    }
    // The text report has one number per line for scripts.
    let out = converter(&[
        "train",
        "--data",
        path.to_str().unwrap(),
        "--target",
        "y",
        "--model",
        "linear",
        "-o",
        scratch("r.onnx").to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    for key in ["r2: ", "mae: ", "rmse: "] {
        let line = text
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{text}"));
        line[key.len()..].parse::<f64>().unwrap();
    }
    // A logistic regression cannot fit values; --task classification makes them classes.
    let out = converter(&[
        "train",
        "--data",
        path.to_str().unwrap(),
        "--target",
        "y",
        "--model",
        "logistic",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("regression"));
}

/// `annotate` on the bundled forest stripped of its covers: the copy answers as the
/// original does, carries covers in which every tree's root saw every row, and explains.
#[test]
fn annotate_adds_covers_that_explain_and_changes_no_answer() {
    use prost::Message;
    use tract_onnx::pb::ModelProto;
    let covers_key = model::tree_ensemble::COVERS_KEY;
    let mut proto = ModelProto::decode(&std::fs::read(bundled()).unwrap()[..]).unwrap();
    proto.metadata_props.retain(|p| p.key != covers_key);
    let bare = scratch("bare-forest.onnx");
    std::fs::write(&bare, proto.encode_to_vec()).unwrap();
    let annotated = scratch("annotated-forest.onnx");
    let out = converter(&[
        "annotate",
        bare.to_str().unwrap(),
        "--data",
        fixture().to_str().unwrap(),
        "-o",
        annotated.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("over the 150 rows"));

    let (before, after) = (
        Model::from_path(&bare).unwrap(),
        Model::from_path(&annotated).unwrap(),
    );
    assert!(before.explainer().is_err());
    let rows: Vec<f32> = (0..40).map(|i| 0.5 + (i * 13 % 37) as f32 / 5.0).collect();
    let batch = Batch::new(rows, 4);
    assert_eq!(
        before.predict(&batch).unwrap(),
        after.predict(&batch).unwrap()
    );
    assert_eq!(after.explain(&batch).unwrap().len(), 10);

    let written = ModelProto::decode(&std::fs::read(&annotated).unwrap()[..]).unwrap();
    let covers = (written.metadata_props.iter())
        .find(|p| p.key == covers_key)
        .map(|p| model::explain::parse_numbers(model::explain::COVERS_KEY, &p.value).unwrap())
        .expect("covers written");
    let graph = written.graph.unwrap();
    let node_ids = (graph.node[0].attribute.iter())
        .find(|a| a.name == "nodes_nodeids")
        .unwrap();
    let roots: Vec<f64> = (node_ids.ints.iter().zip(&covers))
        .filter(|(&id, _)| id == 0)
        .map(|(_, &cover)| cover)
        .collect();
    let trees = after.ensemble_size().unwrap().trees;
    assert_eq!(roots.len(), trees, "one root per tree");
    assert!(roots.iter().all(|&c| c == 150.0), "{roots:?}");
}

/// `annotate` on a logistic regression (the ConfigMap example, trained on the Iris
/// table, stripped of the means `train` wrote) writes each feature's mean over the table, and the explanations then add up
/// to the margins whose softmax is the predicted probabilities.
#[test]
fn annotate_adds_means_that_explain_a_logistic_regression() {
    use prost::Message;
    use tract_onnx::pb::ModelProto;
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../knative/overlays/model-configmap/model.onnx");
    let mut proto = ModelProto::decode(&std::fs::read(shipped).unwrap()[..]).unwrap();
    proto
        .metadata_props
        .retain(|p| p.key != model::explain::MEANS_KEY);
    let logistic = scratch("bare-logistic.onnx");
    std::fs::write(&logistic, proto.encode_to_vec()).unwrap();
    let annotated = scratch("annotated-logistic.onnx");
    let out = converter(&[
        "annotate",
        logistic.to_str().unwrap(),
        "--data",
        fixture().to_str().unwrap(),
        "-o",
        annotated.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("means of 4 features over the 150 rows"),
        "{stdout}"
    );

    // The means written are the table's column means.
    let table = std::fs::read_to_string(fixture()).unwrap();
    let rows: Vec<Vec<f64>> = (table.lines().skip(1))
        .map(|line| {
            line.split(',')
                .take(4)
                .map(|v| v.parse().unwrap())
                .collect()
        })
        .collect();
    let written = ModelProto::decode(&std::fs::read(&annotated).unwrap()[..]).unwrap();
    let means = (written.metadata_props.iter())
        .find(|p| p.key == model::explain::MEANS_KEY)
        .map(|p| model::explain::parse_numbers(model::explain::MEANS_KEY, &p.value).unwrap())
        .expect("means written");
    for (i, mean) in means.iter().enumerate() {
        let want = rows.iter().map(|r| r[i] as f32 as f64).sum::<f64>() / rows.len() as f64;
        assert!((mean - want).abs() < 1e-9, "feature {i}: {mean} vs {want}");
    }

    let (before, after) = (
        Model::from_path(&logistic).unwrap(),
        Model::from_path(&annotated).unwrap(),
    );
    assert!(before.explainer().unwrap_err().contains("training means"));
    let values: Vec<f32> = (0..40).map(|i| 0.5 + (i * 13 % 37) as f32 / 5.0).collect();
    let batch = Batch::new(values.clone(), 4);
    let prediction = after.predict(&batch).unwrap();
    assert_eq!(prediction, before.predict(&batch).unwrap());
    let probabilities = prediction
        .probabilities
        .expect("a classifier's probabilities");
    let explanations = after.explain(&batch).unwrap();
    for (explanation, want) in explanations.iter().zip(probabilities.chunks(3)) {
        let classes = explanation.expected.len();
        assert_eq!(classes, 3);
        let margins: Vec<f64> = (0..classes)
            .map(|k| {
                let sum: f64 = explanation.values.iter().skip(k).step_by(classes).sum();
                explanation.expected[k] + sum
            })
            .collect();
        let top = margins.iter().cloned().fold(f64::MIN, f64::max);
        let total: f64 = margins.iter().map(|m| (m - top).exp()).sum();
        for (m, p) in margins.iter().zip(want) {
            let softmax = (m - top).exp() / total;
            assert!((softmax - f64::from(*p)).abs() < 1e-5, "{softmax} vs {p}");
        }
    }
}

/// A model with preprocessing before its trees (categorical and missing columns) is
/// refused, saying why.
#[test]
fn annotate_refuses_what_it_cannot_explain() {
    let mixed = scratch("churn-mixed-forest.onnx");
    let out = converter(&[
        "train",
        "--data",
        churn_mixed().to_str().unwrap(),
        "--target",
        "churn",
        "--trees",
        "3",
        "-o",
        mixed.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = converter(&[
        "annotate",
        mixed.to_str().unwrap(),
        "--data",
        churn_mixed().to_str().unwrap(),
        "-o",
        scratch("never.onnx").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(preprocessing)"), "{stderr}");
    assert!(!scratch("never.onnx").exists());
}
