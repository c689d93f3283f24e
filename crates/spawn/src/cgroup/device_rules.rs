//! Docker's device rules (`c 1:3 rwm`, allowed or denied) and the state they leave a v1 devices
//! cgroup in, so that v2's program decides exactly what v1 would.
//!
//! A v1 devices cgroup is a default (allow or deny all) plus exceptions keyed by (type, major,
//! minor), each with an access set: a rule of type `a` resets both (deny `a`: deny all, no
//! exceptions); a rule that goes against the default adds its access to the exception of the
//! same key (merged, so `c 1:3 r` then `c 1:3 w` is one `c 1:3 rw`); a rule that agrees with the
//! default takes its access away from that exception. The last part is where v1 is silently
//! weaker than it looks: denying `c 1:3` after allowing `c *:*` changes nothing in the kernel.
//! Such a hole punched in a wildcard exception is refused here (runc's emulator refuses it
//! too), never compiled into a program that would seem to honour it.

use std::collections::BTreeMap;
use std::fmt;

use crate::cgroup::DeviceFilterError;

/// The device types of `struct bpf_cgroup_dev_ctx`'s `access_type` (low 16 bits), in the
/// order runc sorts them (`b` before `c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceType {
    Block,
    Char,
}

impl DeviceType {
    /// `BPF_DEVCG_DEV_BLOCK`, `BPF_DEVCG_DEV_CHAR`.
    #[must_use]
    pub fn bpf_value(self) -> i32 {
        match self {
            Self::Block => 1,
            Self::Char => 2,
        }
    }
}

/// A set of `BPF_DEVCG_ACC_*` bits: mknod 1, read 2, write 4 (`access_type`'s high 16 bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Access(u8);

impl Access {
    pub const MKNOD: Self = Self(1);
    pub const READ: Self = Self(2);
    pub const WRITE: Self = Self(4);
    pub const ALL: Self = Self(7);

    #[must_use]
    pub fn bits(self) -> i32 {
        i32::from(self.0)
    }

    #[must_use]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    #[must_use]
    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    #[must_use]
    pub fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// `rwm`, `r`, `mw`... (any order, each letter at most once, at least one).
    fn parse(text: &str) -> Option<Self> {
        let mut access = Self::default();
        for letter in text.chars() {
            let bit = match letter {
                'r' => Self::READ,
                'w' => Self::WRITE,
                'm' => Self::MKNOD,
                _ => return None,
            };
            if !access.intersection(bit).is_empty() {
                return None;
            }
            access = access.union(bit);
        }
        (!access.is_empty()).then_some(access)
    }
}

impl fmt::Display for Access {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, letter) in [(Self::READ, 'r'), (Self::WRITE, 'w'), (Self::MKNOD, 'm')] {
            if !self.intersection(bit).is_empty() {
                write!(formatter, "{letter}")?;
            }
        }
        Ok(())
    }
}

/// The devices an exception is about; `None` is the wildcard `*`. Ordered as runc orders its
/// rules (major, minor, type; a wildcard before any number), so programs come out the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Devices {
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub kind: DeviceType,
}

impl fmt::Display for Devices {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = |value: Option<u32>| value.map_or_else(|| "*".to_owned(), |n| n.to_string());
        let kind = match self.kind {
            DeviceType::Block => 'b',
            DeviceType::Char => 'c',
        };
        write!(
            formatter,
            "{kind} {}:{}",
            number(self.major),
            number(self.minor)
        )
    }
}

/// One rule as docker writes it to `devices.allow`/`devices.deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// `None`: type `a`, every device with every access.
    pub devices: Option<Devices>,
    pub access: Access,
    pub allow: bool,
}

/// The largest device number a `JNE` immediate (a signed 32-bit value) can compare with; Linux
/// numbers are far below it (12-bit majors, 20-bit minors).
const LARGEST_NUMBER: u32 = i32::MAX as u32;

impl Rule {
    /// Parses `a`, `a *:* rwm`, or `<b|c> <major|*>:<minor|*> <access>`, as the v1 files take
    /// them (docker's `DOCKER_DEVICE_RULES`).
    pub fn parse(text: &str, allow: bool) -> Result<Self, DeviceFilterError> {
        let invalid = |reason: &str| DeviceFilterError::InvalidRule {
            rule: text.to_owned(),
            reason: reason.to_owned(),
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        let (kind, numbers, access) = match fields.as_slice() {
            ["a"] => ("a", "*:*", "rwm"),
            [kind, numbers, access] => (*kind, *numbers, *access),
            _ => return Err(invalid("expected TYPE MAJOR:MINOR ACCESS")),
        };
        let access = Access::parse(access).ok_or_else(|| invalid("access is a subset of rwm"))?;
        let (major, minor) = numbers
            .split_once(':')
            .ok_or_else(|| invalid("expected MAJOR:MINOR"))?;
        let number = |field: &str| -> Result<Option<u32>, DeviceFilterError> {
            if field == "*" {
                return Ok(None);
            }
            match field.parse::<u32>() {
                Ok(value)
                    if value <= LARGEST_NUMBER && field.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    Ok(Some(value))
                }
                _ => Err(invalid("a device number is a decimal number or *")),
            }
        };
        let (major, minor) = (number(major)?, number(minor)?);
        let kind = match kind {
            "a" => {
                return Ok(Self {
                    devices: None,
                    access: Access::ALL,
                    allow,
                })
            }
            "b" => DeviceType::Block,
            "c" => DeviceType::Char,
            _ => return Err(invalid("the type is a, b or c")),
        };
        Ok(Self {
            devices: Some(Devices { major, minor, kind }),
            access,
            allow,
        })
    }
}

/// What a v1 devices cgroup holds after a list of rules: its default and its exceptions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceState {
    /// As runc starts: deny all (an empty rule list allows nothing).
    pub default_allow: bool,
    pub exceptions: BTreeMap<Devices, Access>,
}

impl DeviceState {
    /// The state after `rules`, applied in order.
    pub fn of(rules: &[Rule]) -> Result<Self, DeviceFilterError> {
        let mut state = Self::default();
        for rule in rules {
            state.apply(rule)?;
        }
        Ok(state)
    }

    fn apply(&mut self, rule: &Rule) -> Result<(), DeviceFilterError> {
        let Some(devices) = rule.devices else {
            *self = Self {
                default_allow: rule.allow,
                exceptions: BTreeMap::new(),
            };
            return Ok(());
        };
        if rule.allow == self.default_allow {
            self.take_away(devices, rule.access)
        } else {
            let merged = self.exceptions.get(&devices).copied().unwrap_or_default();
            self.exceptions.insert(devices, merged.union(rule.access));
            Ok(())
        }
    }

    /// Takes `access` away from the exception of exactly `devices`; refused when a wildcard
    /// exception that also covers `devices` grants any of it (v1 would ignore the rule).
    fn take_away(&mut self, devices: Devices, access: Access) -> Result<(), DeviceFilterError> {
        let wider = [
            Devices {
                major: None,
                ..devices
            },
            Devices {
                minor: None,
                ..devices
            },
            Devices {
                major: None,
                minor: None,
                ..devices
            },
        ];
        for covering in wider.into_iter().filter(|covering| *covering != devices) {
            let granted = self.exceptions.get(&covering).copied().unwrap_or_default();
            if !granted.intersection(access).is_empty() {
                return Err(DeviceFilterError::HoleInWildcard {
                    rule: format!("{devices} {access}"),
                    wildcard: format!("{covering} {granted}"),
                });
            }
        }
        if let Some(left) = self
            .exceptions
            .get(&devices)
            .map(|held| held.difference(access))
        {
            if left.is_empty() {
                self.exceptions.remove(&devices);
            } else {
                self.exceptions.insert(devices, left);
            }
        }
        Ok(())
    }
}
