//! Who is acting: the facts about a caller that rules depend on, whatever face the call came from.

use licentia_domain::{OrganisationId, Role, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub organisation_id: OrganisationId,
    pub role: Role,
}

impl Actor {
    pub fn new(user_id: UserId, organisation_id: OrganisationId, role: Role) -> Self {
        Actor { user_id, organisation_id, role }
    }

    /// A user of a licensee organisation (as opposed to the licensor's staff).
    pub fn is_licensee(&self) -> bool {
        self.role == Role::Licensee
    }

    /// Whether `org` is the actor's own organisation.
    pub fn belongs_to(&self, org: OrganisationId) -> bool {
        self.organisation_id == org
    }
}
