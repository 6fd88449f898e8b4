//! Delta debugging of a failing request: the smallest request that still fails the same way
//! (a violation of the same kind against the same requirement). In rounds until nothing
//! shrinks or the budget of calls is spent: drop environment edits, drop object keys and array
//! items (largest subtrees first, then each one), shorten strings (halves, then one
//! character), bring numbers towards zero, halve raw stdin.

use serde_json::{json, Value};

use super::generate::{get_mut, paths, remove, Body, EnvEdit, EnvValue, Request, Seg};
use super::oracle::Violation;

/// Runs a candidate; `true` when it still fails like the original.
pub trait Probe {
    fn still_fails(&mut self, candidate: &Request, like: &Violation) -> bool;
}

/// The minimized request and the calls spent on it.
pub struct Minimized {
    pub request: Request,
    pub tries: usize,
}

struct Search<'p, P: Probe> {
    probe: &'p mut P,
    like: &'p Violation,
    best: Request,
    tries: usize,
    budget: usize,
}

impl<P: Probe> Search<'_, P> {
    /// Tries `candidate`; keeps it when it still fails the same way.
    fn attempt(&mut self, candidate: Request) -> bool {
        if self.tries >= self.budget || candidate == self.best {
            return false;
        }
        self.tries += 1;
        if self.probe.still_fails(&candidate, self.like) {
            self.best = candidate;
            true
        } else {
            false
        }
    }

    fn with_body(&self, body: Body) -> Request {
        Request {
            body,
            ..self.best.clone()
        }
    }

    fn drop_env(&mut self) -> bool {
        let mut progress = false;
        let mut i = 0;
        while i < self.best.env.len() {
            let mut c = self.best.clone();
            c.env.remove(i);
            if self.attempt(c) {
                progress = true;
            } else {
                i += 1;
            }
        }
        progress
    }

    fn shrink_env(&mut self) -> bool {
        let mut progress = false;
        for i in 0..self.best.env.len() {
            loop {
                let mut c = self.best.clone();
                let Some(EnvEdit {
                    value: EnvValue::Text(t),
                    ..
                }) = c.env.get_mut(i)
                else {
                    break;
                };
                let n = t.chars().count();
                if n == 0 {
                    break;
                }
                *t = t.chars().take(if n > 2 { n / 2 } else { n - 1 }).collect();
                if !self.attempt(c) {
                    break;
                }
                progress = true;
            }
        }
        progress
    }

    fn json(&self) -> Option<Value> {
        match &self.best.body {
            Body::Json(v) => Some(v.clone()),
            Body::Raw(_) => None,
        }
    }

    fn drop_nodes(&mut self) -> bool {
        let mut progress = false;
        let mut i = 1;
        loop {
            let Some(v) = self.json() else {
                return progress;
            };
            let all = paths(&v);
            if i >= all.len() || self.tries >= self.budget {
                return progress;
            }
            let mut c = v.clone();
            remove(&mut c, &all[i]);
            if self.attempt(self.with_body(Body::Json(c))) {
                progress = true;
            } else {
                i += 1;
            }
        }
    }

    fn shrink_leaves(&mut self) -> bool {
        let mut progress = false;
        let Some(v) = self.json() else {
            return false;
        };
        let all: Vec<Vec<Seg>> = paths(&v);
        for path in all {
            loop {
                let Some(mut c) = self.json() else {
                    return progress;
                };
                let Some(node) = get_mut(&mut c, &path) else {
                    break;
                };
                let smaller = match node {
                    Value::String(s) if !s.is_empty() => {
                        let n = s.chars().count();
                        let keep = if n > 2 { n / 2 } else { n - 1 };
                        json!(s.chars().take(keep).collect::<String>())
                    }
                    Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                        (Some(0), _, _) => break,
                        (Some(i), _, _) => json!(i / 2),
                        (None, Some(u), _) => json!(u / 2),
                        (_, _, Some(f)) if f.fract() != 0.0 || f.abs() > 1e15 => json!(0),
                        _ => break,
                    },
                    _ => break,
                };
                *node = smaller;
                if !self.attempt(self.with_body(Body::Json(c))) {
                    break;
                }
                progress = true;
            }
        }
        progress
    }

    fn shrink_raw(&mut self) -> bool {
        let mut progress = false;
        while let Body::Raw(t) = &self.best.body {
            if t.is_empty() {
                break;
            }
            let n = t.chars().count();
            let half: String = t.chars().take(n / 2).collect();
            if !self.attempt(self.with_body(Body::Raw(half))) {
                break;
            }
            progress = true;
        }
        progress
    }
}

/// The smallest request found that still fails like `like`, within `budget` calls.
pub fn minimize<P: Probe>(
    probe: &mut P,
    request: &Request,
    like: &Violation,
    budget: usize,
) -> Minimized {
    let mut s = Search {
        probe,
        like,
        best: request.clone(),
        tries: 0,
        budget,
    };
    loop {
        let mut progress = s.drop_env();
        progress |= s.drop_nodes();
        progress |= s.shrink_env();
        progress |= s.shrink_leaves();
        progress |= s.shrink_raw();
        if !progress || s.tries >= s.budget {
            break;
        }
    }
    Minimized {
        request: s.best,
        tries: s.tries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when the config holds a negative number anywhere and CNI_IFNAME is edited.
    struct Fake;
    impl Probe for Fake {
        fn still_fails(&mut self, c: &Request, _: &Violation) -> bool {
            fn negative(v: &Value) -> bool {
                match v {
                    Value::Number(n) => n.as_f64().is_some_and(|f| f < 0.0),
                    Value::Array(a) => a.iter().any(negative),
                    Value::Object(m) => m.values().any(negative),
                    _ => false,
                }
            }
            let Body::Json(v) = &c.body else { return false };
            negative(v) && c.env.iter().any(|e| e.key == "CNI_IFNAME")
        }
    }

    #[test]
    fn keeps_only_what_the_failure_needs() {
        let req = Request {
            verb: "ADD".into(),
            body: Body::Json(json!({
                "cniVersion": "1.0.0", "name": "some-network", "type": "bridge",
                "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}]],
                         "mtu": -1000}
            })),
            env: vec![
                EnvEdit {
                    key: "CNI_ARGS".into(),
                    value: EnvValue::Text("K".into()),
                },
                EnvEdit {
                    key: "CNI_IFNAME".into(),
                    value: EnvValue::Unset,
                },
            ],
            mutations: vec![],
        };
        let like = Violation::new("ERR-1", "killed by SIGABRT", "");
        let m = minimize(&mut Fake, &req, &like, 500);
        assert_eq!(m.request.body, Body::Json(json!({"ipam": {"mtu": -1}})));
        assert_eq!(m.request.env.len(), 1);
        assert_eq!(m.request.env[0].key, "CNI_IFNAME");
    }
}
