//! The network checks of a cluster: `spec.network.machineCIDR`, `podCIDR` and `serviceCIDR`
//! each a valid CIDR (address and prefix, no host bits set) and no two of them overlapping, since
//! a node, pod or service address in two ranges is routed to the wrong place.

use ipnet::IpNet;
use serde_json::Value;

use crate::checks::{Problem, quoted};

/// The CIDR fields of `spec.network`, in the order they are reported.
pub const FIELDS: [&str; 3] = ["machineCIDR", "podCIDR", "serviceCIDR"];

/// Adds the problems of `network` (`spec.network`, absent allowed) to `problems`.
pub fn check(network: Option<&Value>, problems: &mut Vec<Problem>) {
    let Some(network) = network else { return };
    let mut ranges: Vec<(&str, IpNet)> = Vec::new();
    for field in FIELDS {
        let Some(value) = network.get(field) else { continue };
        let path = format!("spec.network.{field}");
        match parse(value) {
            Ok(net) => ranges.push((field, net)),
            Err(why) => problems.push(Problem { field: path, message: why }),
        }
    }
    for (n, (field, net)) in ranges.iter().enumerate() {
        for (other_field, other) in &ranges[n + 1..] {
            if overlap(net, other) {
                problems.push(Problem {
                    field: format!("spec.network.{other_field}"),
                    message: format!("{other} overlaps {field} {net}"),
                });
            }
        }
    }
}

fn parse(value: &Value) -> Result<IpNet, String> {
    let Some(text) = value.as_str() else {
        return Err(format!("{} is not a CIDR string", quoted(&value.to_string())));
    };
    let net: IpNet = text.parse().map_err(|_| format!("{} is not a CIDR like 10.0.0.0/16", quoted(text)))?;
    if net.trunc() != net {
        return Err(format!("{} has host bits set: the network is {}", quoted(text), net.trunc()));
    }
    Ok(net)
}

/// Two CIDRs overlap exactly when one contains the other's network address.
fn overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}
