//! `status JAIL [FLAVOR]`: fail2ban's nested (name, value) lists.

use super::Jail;
use crate::stream::Value;

fn pair(name: &str, value: Value) -> Value {
    Value::Tuple(vec![Value::str(name), value])
}

fn strings(items: impl IntoIterator<Item = String>) -> Value {
    Value::List(items.into_iter().map(Value::Str).collect())
}

impl Jail {
    /// The status answer; `cymru` adds the ASN/country/RIR lists, which
    /// fail2ban fills with `error` when it cannot query Team Cymru's DNS.
    pub fn status(&self, flavor: &str) -> Value {
        let files = if self.backend.starts_with("systemd") {
            pair(
                "Journal matches",
                // fail2ban: one string, the groups joined by " + ".
                strings([self
                    .journalmatch
                    .iter()
                    .map(|m| m.join(" "))
                    .collect::<Vec<_>>()
                    .join(" + ")]),
            )
        } else {
            pair(
                "File list",
                strings(self.logpaths.iter().map(|(p, _)| p.clone())),
            )
        };
        let filter = Value::List(vec![
            pair("Currently failed", Value::Int(self.failures.size() as i64)),
            pair("Total failed", Value::Int(self.failures.total() as i64)),
            files,
        ]);
        let mut actions = vec![
            pair("Currently banned", Value::Int(self.bans.len() as i64)),
            pair("Total banned", Value::Int(self.bans.total() as i64)),
            pair(
                "Banned IP list",
                strings(self.bans.ids_in_order().into_iter().map(str::to_string)),
            ),
        ];
        if flavor == "cymru" {
            let errors = || strings(["error".to_string()]);
            actions.push(pair("Banned ASN list", errors()));
            actions.push(pair("Banned Country list", errors()));
            actions.push(pair("Banned RIR list", errors()));
        }
        Value::List(vec![
            pair("Filter", filter),
            pair("Actions", Value::List(actions)),
        ])
    }
}
