//! Who is acting: the facts about a caller that rules depend on, whatever face the call came from,
//! and where the call came from, for the audit entries the use cases write.

use licentia_audit::{AuditEvent, Outcome};
use licentia_domain::{OrganisationId, Role, UserId};

/// Where a call came from (the web face fills it from the request; the CLI and the worker leave
/// it empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl Origin {
    /// `e` with this origin's address, user agent and request id.
    pub fn stamp(&self, mut e: AuditEvent) -> AuditEvent {
        e.ip = self.ip.clone();
        e.user_agent = self.user_agent.clone();
        e.request_id = self.request_id.clone();
        e
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub organisation_id: OrganisationId,
    pub role: Role,
    /// How the audit log names the actor (the e-mail address).
    pub label: String,
    pub origin: Origin,
}

impl Actor {
    pub fn new(user_id: UserId, organisation_id: OrganisationId, role: Role) -> Self {
        Actor { user_id, organisation_id, role, label: String::new(), origin: Origin::default() }
    }

    pub fn labelled(mut self, label: impl Into<String>, origin: Origin) -> Self {
        self.label = label.into();
        self.origin = origin;
        self
    }

    /// A user of a licensee organisation (as opposed to the licensor's staff).
    pub fn is_licensee(&self) -> bool {
        self.role == Role::Licensee
    }

    /// Whether `org` is the actor's own organisation.
    pub fn belongs_to(&self, org: OrganisationId) -> bool {
        self.organisation_id == org
    }

    /// An audit event with this actor and its origin.
    pub fn event(&self, action: &'static str, outcome: Outcome) -> AuditEvent {
        let e = AuditEvent::new(action, outcome).actor(
            Some(self.user_id.as_uuid()),
            (!self.label.is_empty()).then(|| self.label.clone()),
            Some(self.organisation_id.as_uuid()),
        );
        self.origin.stamp(e)
    }
}
