//! Property tests: random sequences of list and sorted-set commands, sent to a real
//! server over TCP, checked step by step against a simple in-test model. Small
//! encoding limits make the collections cross between packed and large forms often.

mod common;

use std::collections::VecDeque;

use common::TestServer;
use redis::cmd;

/// A seeded xorshift, so a failing sequence can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let s = if start < 0 { (len + start).max(0) } else { start };
    let e = if stop < 0 { len + stop } else { stop.min(len - 1) };
    if s > e || s >= len { None } else { Some((s as usize, e as usize + 1)) }
}

#[test]
fn lists_match_a_model() {
    let s = TestServer::start_with(&["list-max-listpack-size", "8"]);
    let mut c = s.conn();
    for seed in [1u64, 2, 3] {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed);
        let key = format!("list:{seed}");
        let mut model: VecDeque<String> = VecDeque::new();
        for step in 0..3000 {
            let v = format!("v{}", rng.below(12));
            let ctx = format!("seed {seed} step {step}");
            match rng.below(10) {
                0 | 1 => {
                    let n: usize = cmd("LPUSH").arg(&key).arg(&v).arg("w").query(&mut c).unwrap();
                    model.push_front(v);
                    model.push_front("w".into());
                    assert_eq!(n, model.len(), "{ctx}");
                }
                2 | 3 => {
                    let n: usize = cmd("RPUSH").arg(&key).arg(&v).query(&mut c).unwrap();
                    model.push_back(v);
                    assert_eq!(n, model.len(), "{ctx}");
                }
                4 => {
                    let k = rng.below(4) as usize + 1;
                    let got: Option<Vec<String>> = cmd("LPOP").arg(&key).arg(k).query(&mut c).unwrap();
                    let want: Vec<String> = (0..k).filter_map(|_| model.pop_front()).collect();
                    assert_eq!(got.unwrap_or_default(), want, "{ctx}");
                }
                5 => {
                    let got: Option<String> = cmd("RPOP").arg(&key).query(&mut c).unwrap();
                    assert_eq!(got, model.pop_back(), "{ctx}");
                }
                6 => {
                    let count = rng.below(5) - 2;
                    let got: usize = cmd("LREM").arg(&key).arg(count).arg(&v).query(&mut c).unwrap();
                    let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
                    let mut removed = 0;
                    if count >= 0 {
                        let mut i = 0;
                        while i < model.len() && removed < limit {
                            if model[i] == v {
                                model.remove(i);
                                removed += 1;
                            } else {
                                i += 1;
                            }
                        }
                    } else {
                        let mut i = model.len();
                        while i > 0 && removed < limit {
                            i -= 1;
                            if model[i] == v {
                                model.remove(i);
                                removed += 1;
                            }
                        }
                    }
                    assert_eq!(got, removed, "{ctx}");
                }
                7 => {
                    let got: i64 =
                        cmd("LINSERT").arg(&key).arg("BEFORE").arg(&v).arg("ins").query(&mut c).unwrap();
                    let want = if model.is_empty() {
                        0
                    } else if let Some(i) = model.iter().position(|x| *x == v) {
                        model.insert(i, "ins".into());
                        model.len() as i64
                    } else {
                        -1
                    };
                    assert_eq!(got, want, "{ctx}");
                }
                8 if !model.is_empty() => {
                    let i = rng.below(model.len() as u64);
                    let _: () = cmd("LSET").arg(&key).arg(i).arg(&v).query(&mut c).unwrap();
                    model[i as usize] = v;
                }
                _ => {
                    let (a, b) = (rng.below(20) - 10, rng.below(20) - 10);
                    if rng.below(4) == 0 {
                        let _: () = cmd("LTRIM").arg(&key).arg(a).arg(b).query(&mut c).unwrap();
                        model = match clamp_range(a, b, model.len()) {
                            Some((s, e)) => model.range(s..e).cloned().collect(),
                            None => VecDeque::new(),
                        };
                    } else {
                        let got: Vec<String> = cmd("LRANGE").arg(&key).arg(a).arg(b).query(&mut c).unwrap();
                        let want: Vec<String> = match clamp_range(a, b, model.len()) {
                            Some((s, e)) => model.range(s..e).cloned().collect(),
                            None => Vec::new(),
                        };
                        assert_eq!(got, want, "{ctx}");
                    }
                }
            }
            let all: Vec<String> = cmd("LRANGE").arg(&key).arg(0).arg(-1).query(&mut c).unwrap();
            assert_eq!(all, model.iter().cloned().collect::<Vec<_>>(), "{ctx}");
        }
    }
}

/// The model's order: by score, then member.
fn sort(model: &mut [(f64, String)]) {
    model.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then_with(|| a.1.cmp(&b.1)));
}

#[test]
fn sorted_sets_match_a_model() {
    let s = TestServer::start_with(&["zset-max-listpack-entries", "16"]);
    let mut c = s.conn();
    for seed in [11u64, 12, 13] {
        let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ seed);
        let key = format!("zset:{seed}");
        let mut model: Vec<(f64, String)> = Vec::new();
        for step in 0..3000 {
            let m = format!("m{:02}", rng.below(60));
            let score = (rng.below(40) as f64) / 4.0 - 5.0;
            let ctx = format!("seed {seed} step {step}");
            match rng.below(9) {
                0..=2 => {
                    let _: i64 = cmd("ZADD").arg(&key).arg(score).arg(&m).query(&mut c).unwrap();
                    model.retain(|(_, x)| *x != m);
                    model.push((score, m));
                    sort(&mut model);
                }
                3 => {
                    let got: f64 = cmd("ZINCRBY").arg(&key).arg(score).arg(&m).query(&mut c).unwrap();
                    let old = model.iter().find(|(_, x)| *x == m).map_or(0.0, |e| e.0);
                    model.retain(|(_, x)| *x != m);
                    model.push((old + score, m));
                    sort(&mut model);
                    assert_eq!(got, old + score, "{ctx}");
                }
                4 => {
                    let got: i64 = cmd("ZREM").arg(&key).arg(&m).query(&mut c).unwrap();
                    let before = model.len();
                    model.retain(|(_, x)| *x != m);
                    assert_eq!(got as usize, before - model.len(), "{ctx}");
                }
                5 => {
                    let got: Option<i64> = cmd("ZRANK").arg(&key).arg(&m).query(&mut c).unwrap();
                    assert_eq!(got, model.iter().position(|(_, x)| *x == m).map(|p| p as i64), "{ctx}");
                    let got: Option<i64> = cmd("ZREVRANK").arg(&key).arg(&m).query(&mut c).unwrap();
                    let want = model.iter().position(|(_, x)| *x == m).map(|p| (model.len() - 1 - p) as i64);
                    assert_eq!(got, want, "{ctx}");
                }
                6 => {
                    let (lo, hi) = (score, score + rng.below(20) as f64 / 4.0);
                    let got: Vec<String> =
                        cmd("ZRANGEBYSCORE").arg(&key).arg(format!("({lo}")).arg(hi).query(&mut c).unwrap();
                    let want: Vec<String> =
                        model.iter().filter(|(s, _)| *s > lo && *s <= hi).map(|(_, m)| m.clone()).collect();
                    assert_eq!(got, want, "{ctx}");
                    let n: usize =
                        cmd("ZCOUNT").arg(&key).arg(lo).arg(format!("({hi}")).query(&mut c).unwrap();
                    assert_eq!(n, model.iter().filter(|(s, _)| *s >= lo && *s < hi).count(), "{ctx}");
                }
                7 => {
                    let (a, b) = (rng.below(30) - 15, rng.below(30) - 15);
                    let got: Vec<String> =
                        cmd("ZRANGE").arg(&key).arg(a).arg(b).arg("REV").query(&mut c).unwrap();
                    let rev: Vec<String> = model.iter().rev().map(|(_, m)| m.clone()).collect();
                    let want = match clamp_range(a, b, rev.len()) {
                        Some((s, e)) => rev[s..e].to_vec(),
                        None => Vec::new(),
                    };
                    assert_eq!(got, want, "{ctx}");
                }
                _ => {
                    let k = rng.below(3) as usize + 1;
                    let got: Vec<(String, f64)> = cmd("ZPOPMIN").arg(&key).arg(k).query(&mut c).unwrap();
                    let n = k.min(model.len());
                    let want: Vec<(String, f64)> = model.drain(..n).map(|(s, m)| (m, s)).collect();
                    assert_eq!(got, want, "{ctx}");
                }
            }
            let all: Vec<(String, f64)> =
                cmd("ZRANGE").arg(&key).arg(0).arg(-1).arg("WITHSCORES").query(&mut c).unwrap();
            let want: Vec<(String, f64)> = model.iter().map(|(s, m)| (m.clone(), *s)).collect();
            assert_eq!(all, want, "{ctx}");
        }
    }
}
