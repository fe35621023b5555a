//! The BSS-2 configuration checker (`snnc::bss2::verify`): a valid hand-routed configuration
//! passes, one mutation per rule is caught by that rule, and no JSON input makes it panic.
//!
//! The valid configuration is produced by `valid()`, a deliberately small router written here
//! (not the compiler's): 3 external inputs -> 4 lif neurons -> 2 two-circuit lif neurons, signed
//! weights, one weight of 130 realised as 63 + 63 + 4, one clipped weight and one rounding tie.
//! `tests/bss2/valid_small.json` is its canonical text (rewrite it with `BLESS=1`).

mod common;

use serde_json::{Value, json};
use snnc::bss2::verify::{self, Report};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const SCALE: f64 = 58.0;
const MASK: i64 = 24;

fn rha(x: f64) -> i64 {
    (x.signum() * (x.abs() + 0.5).floor()) as i64
}

fn split(w: i64) -> Vec<i64> {
    let n = ((w + 62) / 63).max(1);
    (0..n).map(|i| (w - 63 * i).clamp(0, 63)).collect()
}

/// A source group on a PADI bus: its row-select address and the first driver index it uses.
struct Group {
    bus: i64,
    row_select: i64,
    first_index: i64,
}

/// A program projection with its signed model weights `[pre][post]`.
struct Prog {
    source: &'static str,
    pre: &'static str,
    post: &'static str,
    sw: Vec<Vec<f64>>,
    clip: Option<i64>,
    group: usize,
}

/// Placement: the circuits `(row, column)` of each neuron of a lif population.
fn circuits(pop: &str, n: usize) -> Vec<(i64, i64)> {
    match pop {
        "hidden" => vec![(0, n as i64)],
        _ => vec![(0, 4 + 2 * n as i64), (0, 5 + 2 * n as i64)],
    }
}

struct Placed {
    hw: usize,
    conn: usize,
    circuit: (i64, i64),
    slot: usize,
    weight: i64,
    label: i64,
}

/// The valid small configuration.
fn valid() -> Value {
    let groups = [
        Group {
            bus: 0,
            row_select: 8,
            first_index: 8,
        },
        Group {
            bus: 0,
            row_select: 0,
            first_index: 0,
        },
    ];
    let progs = [
        Prog {
            source: "data->hidden#0",
            pre: "data",
            post: "hidden",
            sw: vec![
                vec![0.5, -0.3, 0.7, 0.2],
                vec![-0.4, 0.6, -0.2, 0.9],
                vec![0.3, 0.3, -1.5, -0.5],
            ],
            clip: None,
            group: 0,
        },
        Prog {
            source: "hidden->out#0",
            pre: "hidden",
            post: "out",
            sw: vec![
                vec![2.24, -0.5],
                vec![0.4, 0.8],
                vec![-0.6, 0.1],
                vec![0.25, -1.2],
            ],
            clip: Some(189),
            group: 1,
        },
    ];
    // Quantise, split, and give every synapse a circuit (least loaded) and a slot (the k-th row
    // of its group and receptor that this circuit uses).
    let mut hw: Vec<(usize, &str, Vec<Value>)> = Vec::new();
    let mut placed: Vec<Placed> = Vec::new();
    let mut load: BTreeMap<(i64, i64), usize> = BTreeMap::new();
    let mut slots: BTreeMap<(usize, &str, (i64, i64)), usize> = BTreeMap::new();
    let mut clipped = 0;
    for (pi, p) in progs.iter().enumerate() {
        let clip = p.clip.unwrap_or(63) as f64;
        for receptor in ["excitatory", "inhibitory"] {
            let mut conns = Vec::new();
            for (i, row) in p.sw.iter().enumerate() {
                for (j, &sw) in row.iter().enumerate() {
                    if receptor == "excitatory" && (SCALE * sw).abs() > clip {
                        clipped += 1;
                    }
                    let q = rha((SCALE * sw).clamp(-clip, clip));
                    let w = if receptor == "excitatory" { q } else { -q };
                    if w <= 0 {
                        continue;
                    }
                    for sw_part in split(w) {
                        let cands = circuits(p.post, j);
                        let c = *cands
                            .iter()
                            .min_by_key(|c| (load.get(c).copied().unwrap_or(0), **c))
                            .unwrap();
                        *load.entry(c).or_insert(0) += 1;
                        let slot = slots.entry((p.group, receptor, c)).or_insert(0);
                        placed.push(Placed {
                            hw: hw.len(),
                            conn: conns.len(),
                            circuit: c,
                            slot: *slot,
                            weight: sw_part,
                            label: i as i64,
                        });
                        *slot += 1;
                    }
                    conns.push(json!({ "pre": [i, 0], "post": [j, 0], "sw_weight": sw, "weight": w, "synapses": [] }));
                }
            }
            hw.push((pi, receptor, conns));
        }
    }
    // Drivers: per group, excitatory rows first, then inhibitory, each on drivers of its own.
    let mut drivers = Vec::new();
    let mut row_of: BTreeMap<(usize, &str, usize), i64> = BTreeMap::new();
    for (gi, g) in groups.iter().enumerate() {
        let mut index = g.first_index;
        for receptor in ["excitatory", "inhibitory"] {
            let rows = slots
                .iter()
                .filter(|((sg, r, _), _)| *sg == gi && *r == receptor)
                .map(|(_, n)| *n)
                .max()
                .unwrap_or(0);
            for k in 0..rows.div_ceil(2) {
                let d = 4 * index + g.bus;
                let mode = |slot: usize| if slot < rows { receptor } else { "disabled" };
                row_of.insert((gi, receptor, 2 * k), 2 * d);
                row_of.insert((gi, receptor, 2 * k + 1), 2 * d + 1);
                drivers.push(json!({
                    "hemisphere": "top", "driver": d, "padi_bus": d % 4, "index_on_bus": d / 4,
                    "row_address_compare_mask": MASK,
                    "row_modes": { "row_2d": mode(2 * k), "row_2d_plus_1": mode(2 * k + 1) },
                    "enable_receiver": true,
                }));
                index += 1;
            }
        }
    }
    drivers.sort_by_key(|d| d["driver"].as_i64());
    let mut rows = Vec::new();
    for d in &drivers {
        let n = d["driver"].as_i64().unwrap();
        rows.push(json!({ "hemisphere": "top", "row": 2 * n, "driver": n, "mode": d["row_modes"]["row_2d"] }));
        rows.push(json!({ "hemisphere": "top", "row": 2 * n + 1, "driver": n, "mode": d["row_modes"]["row_2d_plus_1"] }));
    }
    let mut per_circuit: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for s in &placed {
        let (pi, receptor, _) = hw[s.hw];
        let row = row_of[&(progs[pi].group, receptor, s.slot)];
        *per_circuit.entry(s.circuit).or_insert(0) += 1;
        let syn = json!({ "hemisphere": "top", "row": row, "column": s.circuit.1, "weight": s.weight, "label": s.label });
        hw[s.hw].2[s.conn]["synapses"]
            .as_array_mut()
            .unwrap()
            .push(syn);
    }
    let projections: Vec<Value> = hw
        .into_iter()
        .filter(|(_, _, conns)| !conns.is_empty())
        .map(|(pi, receptor, conns)| {
            let p = &progs[pi];
            let mut v = json!({
                "id": format!("{}/{receptor}", p.source), "source": p.source, "pre": p.pre, "post": p.post,
                "receptor": receptor, "sw_weight_scale": SCALE, "connections": conns,
            });
            if let Some(c) = p.clip {
                v["weight_clip"] = c.into();
            }
            v
        })
        .collect();
    let data = (0..3)
        .map(|k| {
            let nl = groups[0].row_select << 6 | k;
            json!({ "index": k, "record_spikes": false, "labels": [ {
                "hemisphere": "top", "padi_bus": 0, "spl1": 0, "neuron_label": nl,
                "row_select": groups[0].row_select, "synapse_label": k, "spike_label": nl } ] })
        })
        .collect::<Vec<_>>();
    let lif = |pop: &str, size: usize, record: bool| {
        (0..size)
            .map(|n| {
                let atoms = circuits(pop, n);
                let (ar, ac) = atoms[0];
                json!({
                    "index": n, "anchor": { "row": ar, "column": ac },
                    "compartments": [ {
                        "id": 0,
                        "atomic_neurons": atoms.iter().map(|&(r, c)| json!({ "row": r, "column": c })).collect::<Vec<_>>(),
                        "spike_master": 0,
                        "receptors": atoms.iter().map(|_| json!(["excitatory", "inhibitory"])).collect::<Vec<_>>(),
                    } ],
                    "event_output": ac / 32,
                    // `out` emits on the same bus as `hidden` (event output 0), so its labels
                    // must differ from hidden's even though nothing listens to it.
                    "address_out": (groups[1].row_select & 3) << 6 | (n as i64 + if pop == "out" { 4 } else { 0 }),
                    "record_spikes": record, "calib": pop,
                })
            })
            .collect::<Vec<_>>()
    };
    let target = json!({ "leak": 80, "reset": 80, "threshold": 150, "tau_mem_s": 1.2e-5,
        "tau_syn_s": [6e-6, 6e-6], "refractory_s": 3e-5, "holdoff_s": 0.0,
        "membrane_capacitance": 63, "i_synin_gm": 500 });
    let mapping = json!({ "model": "LIF", "v_leak": 0.0, "v_threshold": 1.0, "v_reset": 0.0,
        "lsb_per_model_unit": 70.0, "input_gain": [1.0, 1.0], "weight_lsb_per_hw_weight": [1.2069, 1.2069], "leak_over_threshold": false });
    let max_in = per_circuit.values().max().copied().unwrap_or(0);
    json!({
        "schema": "snnc.bss2.config/v1",
        "target": { "chip": "HICANN-X", "revision": 3, "speedup": 1000.0, "fpga_clock_hz": 125000000,
            "limits": { "atomic_neurons": 512, "columns": 256, "rows_per_synram": 256,
                "drivers_per_hemisphere": 128, "padi_buses_per_hemisphere": 4,
                "weight_max": 63, "label_max": 63, "row_select_max": 31 } },
        "time": { "runtime_cycles": 2500, "inter_batch_entry_wait_cycles": 0, "batch_size": 2,
            "bio_ms_per_hw_us": 1.0 },
        "populations": [
            { "id": "data", "kind": "external", "size": 3, "neurons": data },
            { "id": "hidden", "kind": "lif", "size": 4,
              "shape": { "compartments": [ { "id": 0, "cells": [[0, 0]] } ] }, "neurons": lif("hidden", 4, false) },
            { "id": "out", "kind": "lif", "size": 2,
              "shape": { "compartments": [ { "id": 0, "cells": [[0, 0], [1, 0]] } ] }, "neurons": lif("out", 2, true) },
        ],
        "projections": projections,
        "synapse_drivers": drivers,
        "rows": rows,
        "crossbar": [
            { "input": 0, "output": 0, "mask": 0, "target": 0 },
            { "input": 0, "output": 8, "mask": 0, "target": 0 },
            { "input": 8, "output": 0, "mask": 8192, "target": 0 },
        ],
        "background_sources": [],
        "recording": { "spikes": ["out"], "cadc": [ { "population": "hidden", "period_cycles": 250 } ],
            "madc": { "population": "hidden", "neuron": 0, "source": "membrane" } },
        "calibration": {
            "tool": "calix-compatible",
            "cadc": { "dynamic_range": [70, 550], "read_range": [20, 220] },
            "global": { "synapse_dac_bias": 1000 },
            "targets": { "hidden": target.clone(), "out": target },
            "mapping": { "hidden": mapping.clone(), "out": mapping },
        },
        "inputs": { "data": [ [[0, 100], [50], []], [[10], [10], [10]] ] },
        "resources": {
            "atomic_neurons_used": 8, "synapses_used": placed.len(),
            "rows_used": { "top": rows.len(), "bottom": 0 },
            "drivers_used": { "top": drivers.len(), "bottom": 0 },
            "rows_per_padi_bus": [[rows.len(), 0, 0, 0], [0, 0, 0, 0]],
            "max_in_degree": max_in, "max_in_degree_per_bus": max_in,
            "clipped_weights": clipped, "zero_weights": 0,
        },
        "provenance": { "snnc_version": "0.1.0", "router": "tests/bss2_verify.rs", "seed": 0,
            "program_hash": "none" },
    })
}

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bss2/valid_small.json")
}

/// Errors of the report, for failure messages.
fn show(r: &Report) -> String {
    r.to_string()
}

/// The report has errors from every rule in `required`, and from no rule outside
/// `required ∪ allowed`.
fn assert_rules(r: &Report, required: &[&str], allowed: &[&str]) {
    let fired: BTreeSet<&str> = r.violations.iter().map(|v| v.rule).collect();
    for rule in required {
        assert!(fired.contains(rule), "expected {rule}, got:\n{}", show(r));
    }
    for rule in &fired {
        assert!(
            required.contains(rule) || allowed.contains(rule),
            "unexpected {rule}:\n{}",
            show(r)
        );
    }
}

fn mutated(f: impl FnOnce(&mut Value)) -> Report {
    let mut v = valid();
    f(&mut v);
    verify::verify(&v)
}

/// The path of the connection `pre -> post` in hardware projection `id`.
fn conn<'a>(v: &'a mut Value, id: &str, pre: i64, post: i64) -> &'a mut Value {
    let p = v["projections"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["id"] == id)
        .unwrap();
    p["connections"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["pre"][0] == pre && c["post"][0] == post)
        .unwrap()
}

const EXC: &str = "data->hidden#0/excitatory";
const HOUT_EXC: &str = "hidden->out#0/excitatory";

#[test]
fn valid_configuration_passes_with_every_connection_replayed() {
    let r = verify::verify(&valid());
    assert!(r.is_ok(), "{}", show(&r));
    assert!(r.warnings.is_empty(), "{}", show(&r));
    assert_eq!(r.stats.requested_connections, 20);
    assert_eq!(r.replayed_connections, 20);
    assert!(
        r.summary().starts_with("ok: 20 of 20 connections replayed"),
        "{}",
        r.summary()
    );
}

#[test]
fn valid_fixture_is_the_canonical_text_of_the_generator() {
    let text = verify::canonical_text(&valid());
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(fixture_path(), &text).unwrap();
    }
    let file = std::fs::read_to_string(fixture_path()).unwrap();
    assert_eq!(
        file, text,
        "tests/bss2/valid_small.json is stale; rerun with BLESS=1"
    );
    let r = verify::verify_text(&file).unwrap();
    assert!(r.is_ok(), "{}", show(&r));
}

#[test]
fn weight_130_is_three_synapses() {
    let mut v = valid();
    let c = conn(&mut v, HOUT_EXC, 0, 0);
    assert_eq!(c["weight"], 130);
    let w: Vec<i64> = c["synapses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["weight"].as_i64().unwrap())
        .collect();
    assert_eq!(w, [63, 63, 4]);
}

#[test]
fn r0_missing_field_and_wrong_type_are_schema_violations_with_paths() {
    let r = mutated(|v| {
        v["populations"][1]["neurons"][2]
            .as_object_mut()
            .unwrap()
            .remove("address_out");
        v["projections"][0]["connections"][0]["weight"] = json!("29");
    });
    // The neuron without `address_out` is left out, so its circuit looks unused.
    assert_rules(&r, &["R0"], &["R1", "R5", "R9", "R19"]);
    let paths: Vec<&str> = r
        .violations
        .iter()
        .filter(|x| x.rule == "R0")
        .map(|x| x.path.as_str())
        .collect();
    assert!(paths.contains(&"populations[1].neurons[2]"), "{paths:?}");
    assert!(
        paths.contains(&"projections[0].connections[0].weight"),
        "{paths:?}"
    );
    let r = mutated(|v| v["schema"] = json!("snnc.bss2.config/v2"));
    assert_rules(&r, &["R0"], &[]);
}

#[test]
fn r1_synapse_weight_64() {
    let r = mutated(|v| conn(v, EXC, 0, 0)["synapses"][0]["weight"] = json!(64));
    assert_rules(&r, &["R1"], &["R7", "R9"]);
}

#[test]
fn r1_limits_are_compared_with_the_checkers_table() {
    let r = mutated(|v| v["target"]["limits"]["weight_max"] = json!(127));
    assert_rules(&r, &["R1"], &[]);
}

#[test]
fn r2_circuit_used_twice_and_disconnected_compartment() {
    let r = mutated(|v| {
        let a = &mut v["populations"][2]["neurons"][1]["compartments"][0]["atomic_neurons"];
        a[1]["column"] = json!(9);
    });
    assert_rules(&r, &["R2"], &["R3", "R5", "R9", "R19"]);
    let r = mutated(|v| {
        v["populations"][1]["neurons"][1]["compartments"][0]["atomic_neurons"][0]["column"] =
            json!(0)
    });
    assert_rules(&r, &["R2"], &["R3", "R5", "R9", "R11", "R19"]);
}

#[test]
fn r3_derived_fields() {
    let r = mutated(|v| v["synapse_drivers"][0]["padi_bus"] = json!(1));
    assert_rules(&r, &["R3"], &[]);
    let r = mutated(|v| v["populations"][0]["neurons"][1]["labels"][0]["neuron_label"] = json!(7));
    assert_rules(&r, &["R3"], &[]);
}

#[test]
fn r4_two_synapses_in_one_cell() {
    let r = mutated(|v| {
        let row = conn(v, EXC, 0, 0)["synapses"][0]["row"].clone();
        conn(v, EXC, 2, 0)["synapses"][0]["row"] = row;
    });
    assert_rules(&r, &["R4"], &[]);
}

#[test]
fn r5_synapse_in_a_column_of_another_neuron() {
    let r = mutated(|v| conn(v, EXC, 0, 0)["synapses"][0]["column"] = json!(1));
    assert_rules(&r, &["R5"], &["R4", "R9", "R19"]);
}

#[test]
fn r6_row_mode_flipped() {
    let r = mutated(|v| {
        let d = v["synapse_drivers"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|d| d["driver"] == 32)
            .unwrap();
        d["row_modes"]["row_2d"] = json!("inhibitory");
        let row = v["rows"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|r| r["row"] == 64)
            .unwrap();
        row["mode"] = json!("inhibitory");
    });
    assert_rules(&r, &["R6"], &["R9"]);
}

#[test]
fn r7_split_64_66() {
    let r = mutated(|v| {
        let c = conn(v, HOUT_EXC, 0, 0);
        let s = c["synapses"].as_array_mut().unwrap();
        s.pop();
        s[0]["weight"] = json!(64);
        s[1]["weight"] = json!(66);
    });
    assert_rules(&r, &["R7"], &["R1", "R19"]);
    assert!(
        r.violations.iter().any(|x| x.rule == "R7"
            && x.message
                .contains("by 3 synapse(s), 63s then 4, found [64, 66]")),
        "{}",
        show(&r)
    );
}

#[test]
fn r8_scale_mismatch_and_overlapping_signs() {
    let r = mutated(|v| v["projections"][0]["sw_weight_scale"] = json!(60.0));
    assert_rules(&r, &["R8"], &[]);
    let r = mutated(|v| conn(v, EXC, 0, 0)["sw_weight"] = json!(0.51));
    assert_rules(&r, &["R8"], &[]);
}

#[test]
fn r8_rounding_tie_is_half_away_from_zero() {
    // 58 * 0.25 = 14.5 exactly: 15, not the half-to-even 14.
    let mut v = valid();
    assert_eq!(conn(&mut v, HOUT_EXC, 3, 0)["weight"], 15);
    let r = mutated(|v| {
        let c = conn(v, HOUT_EXC, 3, 0);
        c["weight"] = json!(14);
        c["synapses"][0]["weight"] = json!(14);
    });
    assert_rules(&r, &["R8"], &["R9"]);
}

#[test]
fn r9_changed_synapse_label_is_one_missing_connection() {
    let r = mutated(|v| conn(v, EXC, 0, 0)["synapses"][0]["label"] = json!(40));
    assert_rules(&r, &["R9"], &[]);
    let msgs: Vec<&str> = r.violations.iter().map(|x| x.message.as_str()).collect();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].starts_with("1 requested connection(s) not realised"),
        "{msgs:?}"
    );
    assert!(
        msgs[0].contains("data[0] -> hidden[0].0 excitatory (requested 29, realised 0)"),
        "{msgs:?}"
    );
    assert_eq!(r.replayed_connections, 19);
}

#[test]
fn r9_label_of_another_source_is_missing_and_spurious() {
    let r = mutated(|v| conn(v, EXC, 0, 0)["synapses"][0]["label"] = json!(2));
    assert_rules(&r, &["R9"], &[]);
    assert!(
        r.violations.iter().any(|x| x.message.contains("spurious")
            && x.message.contains("data[2] -> hidden[0].0 excitatory")),
        "{}",
        show(&r)
    );
}

#[test]
fn r9_mask_zero_lets_another_groups_events_through() {
    let r = mutated(|v| v["synapse_drivers"][0]["row_address_compare_mask"] = json!(0));
    assert_rules(&r, &["R9"], &["R11"]);
    assert!(
        r.violations
            .iter()
            .any(|x| x.rule == "R9" && x.message.contains("spurious")),
        "{}",
        show(&r)
    );
    assert!(
        !r.violations
            .iter()
            .any(|x| x.rule == "R9" && x.message.contains("not realised")),
        "{}",
        show(&r)
    );
}

#[test]
fn r10_internal_neuron_on_a_foreign_bus() {
    let r = mutated(|v| {
        let xb = v["crossbar"].as_array_mut().unwrap();
        xb.insert(
            1,
            json!({ "input": 0, "output": 1, "mask": 0, "target": 0 }),
        );
    });
    assert_rules(&r, &["R10"], &[]);
}

#[test]
fn r11_65_sources_in_one_row_select_group() {
    let r = mutated(|v| {
        let neurons: Vec<Value> = (0..65)
            .map(|k| {
                let (rs, sl) = (20, k % 64);
                let nl = rs << 6 | sl;
                json!({ "index": k, "record_spikes": false, "labels": [ { "hemisphere": "top", "padi_bus": 0,
                    "spl1": 0, "neuron_label": nl, "row_select": rs, "synapse_label": sl, "spike_label": nl } ] })
            })
            .collect();
        v["populations"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "id": "extra", "kind": "external", "size": 65, "neurons": neurons }));
    });
    assert_rules(&r, &["R11"], &[]);
    assert!(
        r.violations
            .iter()
            .any(|x| x.message.contains("65 sources use row_select 20")),
        "{}",
        show(&r)
    );
}

#[test]
fn r12_300_synapses_into_one_circuit() {
    let r = mutated(|v| {
        let c = conn(v, EXC, 0, 0);
        c["weight"] = json!(300 * 63);
        c["synapses"] = (0..300).map(|row| json!({ "hemisphere": "top", "row": row, "column": 0, "weight": 63, "label": 0 })).collect();
    });
    assert_rules(&r, &["R12"], &["R1", "R4", "R6", "R8", "R9", "R13", "R19"]);
    assert!(
        r.violations.iter().any(|x| x.rule == "R12"
            && x.message
                .contains("larger than the number of synapse rows (256)")),
        "{}",
        show(&r)
    );
}

#[test]
fn r13_missing_crossbar_node() {
    let r = mutated(|v| {
        v["crossbar"].as_array_mut().unwrap().remove(0);
    });
    assert_rules(&r, &["R13", "R9"], &[]);
    let r = mutated(|v| {
        v["crossbar"].as_array_mut().unwrap().remove(1);
    });
    assert_rules(&r, &["R13"], &[]);
}

#[test]
fn r14_tau_mem_100_us_warns_and_3_ms_is_an_error() {
    let r = mutated(|v| v["calibration"]["targets"]["hidden"]["tau_mem_s"] = json!(100e-6));
    assert_rules(&r, &[], &[]);
    assert_eq!(r.warnings.len(), 1, "{}", show(&r));
    assert_eq!(r.warnings[0].rule, "R14");
    assert_eq!(r.warnings[0].path, "calibration.targets.hidden.tau_mem_s");
    let r = mutated(|v| v["calibration"]["targets"]["hidden"]["tau_mem_s"] = json!(3e-3));
    assert_rules(&r, &["R14"], &[]);
    let r = mutated(|v| v["calibration"]["targets"]["out"]["leak"] = json!(10));
    assert_rules(&r, &["R14"], &["R15"]);
}

#[test]
fn r15_threshold_below_leak() {
    let r = mutated(|v| v["calibration"]["targets"]["hidden"]["threshold"] = json!(70));
    assert_rules(&r, &["R15"], &[]);
    assert!(
        r.violations
            .iter()
            .any(|x| x.message == "threshold 70 is not above leak 80"),
        "{}",
        show(&r)
    );
}

#[test]
fn r16_runtime_beyond_the_timer_and_inputs() {
    let r = mutated(|v| v["time"]["runtime_cycles"] = json!(1u64 << 32));
    assert_rules(&r, &["R16"], &[]);
    let r = mutated(|v| v["inputs"]["data"][0][0] = json!([100, 0]));
    assert_rules(&r, &["R16"], &[]);
    let r = mutated(|v| v["inputs"]["data"][1] = json!([[2499], [2499], []]));
    assert_rules(&r, &["R16"], &[]);
    let r = mutated(|v| v["inputs"]["data"][1] = json!([vec![10; 10], vec![10; 10], []]));
    assert_rules(&r, &[], &[]);
    assert_eq!(
        r.warnings.iter().map(|w| w.rule).collect::<Vec<_>>(),
        ["R16"],
        "{}",
        show(&r)
    );
}

#[test]
fn r17_two_madc_neurons() {
    let r = mutated(|v| {
        v["recording"]["madc"] = json!([
            { "population": "hidden", "neuron": 0, "source": "membrane" },
            { "population": "hidden", "neuron": 1, "source": "membrane" } ]);
    });
    assert_rules(&r, &["R17"], &[]);
    let r = mutated(|v| v["recording"]["cadc"][0]["period_cycles"] = json!(100));
    assert_rules(&r, &["R17"], &[]);
}

#[test]
fn r18_unsorted_list_and_non_canonical_text() {
    let r = mutated(|v| v["crossbar"].as_array_mut().unwrap().swap(0, 1));
    assert_rules(&r, &["R18"], &[]);
    let compact = serde_json::to_string(&valid()).unwrap();
    let r = verify::verify_text(&compact).unwrap();
    assert_rules(&r, &["R18"], &[]);
    assert!(verify::verify_text("{ not json").is_err());
}

#[test]
fn r19_resources_are_recomputed() {
    let r = mutated(|v| v["resources"]["synapses_used"] = json!(1));
    assert_rules(&r, &["R19"], &[]);
}

/// xorshift64*, enough for mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 2 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 1),
        2 => json!(rng.next() as i64),
        3 => json!(rng.below(300) as i64 - 20),
        4 => json!(f64::from(rng.below(1000) as u32) / 7.0),
        5 => json!(["top", "bottom", "excitatory", "disabled", "x", ""][rng.below(6)]),
        6 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "id", "row", "column", "weight", "labels", "mask", "neurons", "pre",
            ];
            Value::Object(
                (0..rng.below(4))
                    .map(|_| {
                        (
                            keys[rng.below(keys.len())].to_string(),
                            random_value(rng, depth + 1),
                        )
                    })
                    .collect(),
            )
        }
    }
}

/// Replaces one random node of the tree with a random value.
fn mutate_once(v: &mut Value, rng: &mut Rng) {
    let stop = rng.below(5) == 0;
    match v {
        Value::Array(a) if !a.is_empty() && !stop => {
            let i = rng.below(a.len());
            mutate_once(&mut a[i], rng);
        }
        Value::Object(m) if !m.is_empty() && !stop => {
            let i = rng.below(m.len());
            mutate_once(m.values_mut().nth(i).unwrap(), rng);
        }
        _ => *v = random_value(rng, 0),
    }
}

#[test]
fn random_mutations_of_the_valid_tree_never_panic() {
    let mut rng = Rng(0x5eed_b552);
    let base = valid();
    for _ in 0..400 {
        let mut v = base.clone();
        for _ in 0..1 + rng.below(3) {
            mutate_once(&mut v, &mut rng);
        }
        let r = verify::verify(&v);
        let _ = r.to_string();
        let _ = r.to_json_lines();
    }
}

#[test]
fn garbage_and_truncations_never_panic() {
    let text = verify::canonical_text(&valid());
    let mut rng = Rng(42);
    for cut in (0..text.len()).step_by(97) {
        let _ = verify::verify_text(&text[..cut]);
    }
    for _ in 0..200 {
        let mut bytes = text.as_bytes().to_vec();
        for _ in 0..4 {
            let i = rng.below(bytes.len());
            bytes[i] = b"{}[]\",:0123456789-etruxnl "[rng.below(26)];
        }
        let _ = verify::verify_text(&String::from_utf8_lossy(&bytes));
    }
    for _ in 0..200 {
        let v = random_value(&mut rng, 0);
        let _ = verify::verify(&v);
    }
    for v in [
        json!(null),
        json!([]),
        json!({}),
        json!({"populations": 3, "projections": [1, [], {}]}),
    ] {
        let r = verify::verify(&v);
        assert!(r.violations.iter().all(|x| x.rule == "R0"), "{}", show(&r));
    }
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_snnc"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn cli_exit_codes_and_output() {
    let file = fixture_path();
    let (code, stdout, _) = cli(&["verify-config", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.starts_with("ok: 20 of 20 connections replayed"),
        "{stdout}"
    );

    let dir = common::TempDir::new("bss2-verify", true);
    let mut v = valid();
    conn(&mut v, EXC, 0, 0)["synapses"][0]["label"] = json!(40);
    let bad = dir.join("bad.json");
    std::fs::write(&bad, verify::canonical_text(&v)).unwrap();
    let (code, stdout, _) = cli(&["verify-config", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.starts_with("error[R9]: projections[0].connections[0]: 1 requested connection(s)"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("failed (R9): 19 of 20"),
        "{stdout}"
    );
    let (code, stdout, _) = cli(&[
        "verify-config",
        bad.to_str().unwrap(),
        "--message-format",
        "json",
    ]);
    assert_eq!(code, 1);
    let first: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["rule"], "R9");
    assert_eq!(first["severity"], "error");

    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{ \"schema\": ").unwrap();
    let (code, _, stderr) = cli(&["verify-config", broken.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = cli(&["verify-config", dir.join("absent.json").to_str().unwrap()]);
    assert_eq!(code, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn r0_unknown_top_level_field_and_r1_duplicate_population() {
    let r = mutated(|v| v["synapse_driver"] = json!([]));
    assert_rules(&r, &["R0"], &[]);
    assert_eq!(r.violations[0].path, "synapse_driver");
    let r = mutated(|v| v["populations"][2]["id"] = json!("hidden"));
    assert_rules(&r, &["R1"], &["R2", "R5", "R9", "R11", "R12", "R13", "R17"]);
}

#[test]
fn r9_disabled_receiver_loses_its_rows() {
    let r = mutated(|v| {
        let d = v["synapse_drivers"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|d| d["driver"] == 36)
            .unwrap();
        d["enable_receiver"] = json!(false);
    });
    assert_rules(&r, &["R9"], &[]);
    assert!(
        r.violations[0].message.contains("not realised"),
        "{}",
        show(&r)
    );
}

#[test]
fn r9_bottom_hemisphere_route_through_bit_13() {
    // Move data[0]'s route to the bottom hemisphere's bus 0: the label gets bit 13, the node
    // (8, 4) forwards it, and nothing in the bottom array listens, so its connections vanish.
    let r = mutated(|v| {
        let l = &mut v["populations"][0]["neurons"][0]["labels"][0];
        l["hemisphere"] = json!("bottom");
        l["neuron_label"] = json!(8192 + 512);
        l["spike_label"] = json!(8192 + 512);
        v["crossbar"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "input": 8, "output": 4, "mask": 8192, "target": 8192 }));
    });
    assert_rules(&r, &["R9", "R13"], &[]);
    assert!(
        r.violations.iter().any(|x| x.rule == "R9"
            && x.message
                .starts_with("4 requested connection(s) not realised")),
        "{}",
        show(&r)
    );
}

#[test]
fn huge_weights_and_integers_are_reported_not_expanded() {
    let r = mutated(|v| conn(v, EXC, 0, 0)["weight"] = json!(4_000_000_000i64));
    assert_rules(&r, &["R7", "R8", "R9", "R12"], &[]);
    let r = mutated(|v| conn(v, EXC, 0, 0)["weight"] = json!(1i64 << 50));
    assert_rules(&r, &["R1"], &["R9", "R19"]);
    let r = mutated(|v| conn(v, EXC, 0, 0)["weight"] = json!(i64::MIN));
    assert_rules(&r, &["R1"], &["R9", "R19"]);
}

#[test]
fn negative_weight_clip_is_r1_not_a_panic() {
    let r = mutated(|v| v["projections"][2]["weight_clip"] = json!(-5));
    assert_rules(&r, &["R1"], &["R8", "R19"]);
}
