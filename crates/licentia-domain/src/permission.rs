//! The permission table: which role may do what. Every route in `licentia-web` names one of these
//! (or is public), and a test walks the whole route table against [`Role::allows`].

use serde::Serialize;

use crate::Role;

/// Something a user may be allowed to do. Deny by default: a role has exactly the permissions
/// [`Role::allows`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See one's own home page, log out, change one's own password.
    SelfService,
    /// Read organisations. Licensees are scoped to their own organisation in SQL.
    OrgRead,
    /// Create, rename, disable organisations.
    OrgManage,
    /// Read user accounts (licensor side only).
    UserRead,
    /// Create users, disable them, change their role.
    UserManage,
    /// Search and read the audit log.
    AuditRead,
    /// Export the audit log (CSV, JSON Lines).
    AuditExport,
    /// Recompute the audit chain and check its checkpoints.
    AuditVerify,
    /// Operational metrics (`/metrics`).
    MetricsRead,
    /// See artifact metadata (licensees: their organisation's only).
    ArtifactRead,
    /// Upload an artifact.
    ArtifactUpload,
    /// Download an artifact's decrypted content. Auditors may read documents but never datasets
    /// or models: that finer rule is [`Role::may_read_content_of`].
    ArtifactContent,
    /// Rotate, re-wrap and retire master keys.
    KeysManage,
    /// Read the IP registry. Licensees see only the assets of their own agreements, public fields only.
    AssetRead,
    /// Create, change and delete assets.
    AssetManage,
    /// Fee tables and cost forecasts: licensor-internal figures licensees never see.
    CostRead,
    /// Read agreements, their versions and documents (licensees: those shared with them).
    AgreementRead,
    /// Create agreements, save versions, submit, withdraw, activate, terminate.
    AgreementDraft,
    /// Approve another manager's version (four eyes).
    AgreementApprove,
    /// Accept a version for one's party (the licensor's managers, the licensee's users) or, as
    /// the licensee, send it back with requested changes.
    AgreementAccept,
    /// Send a version under review back with requested changes, as the licensee party.
    AgreementRespond,
    /// Report net sales under one's own agreements.
    SalesReport,
    /// Royalty statements (licensees: their own).
    StatementRead,
    /// Read licences and their remaining quota (licensees: their own).
    LicenceRead,
    /// Issue licences under executed agreements.
    LicenceManage,
    /// Upload datasets, mark their columns, read their schema and preview (the licensee's own
    /// data: not the licensor's managers, not auditors).
    DatasetManage,
    /// Launch, cancel and use training runs under one's licences.
    RunLaunch,
    /// Read runs, their progress and metrics (managers: every licensee's).
    RunRead,
    /// Manage webhook endpoints and read their delivery log: admins for any organisation,
    /// licensees for their own (only their own events reach them).
    WebhookManage,
}

impl Permission {
    pub const ALL: [Permission; 29] = [
        Permission::SelfService,
        Permission::OrgRead,
        Permission::OrgManage,
        Permission::UserRead,
        Permission::UserManage,
        Permission::AuditRead,
        Permission::AuditExport,
        Permission::AuditVerify,
        Permission::MetricsRead,
        Permission::ArtifactRead,
        Permission::ArtifactUpload,
        Permission::ArtifactContent,
        Permission::KeysManage,
        Permission::AssetRead,
        Permission::AssetManage,
        Permission::CostRead,
        Permission::AgreementRead,
        Permission::AgreementDraft,
        Permission::AgreementApprove,
        Permission::AgreementAccept,
        Permission::AgreementRespond,
        Permission::SalesReport,
        Permission::StatementRead,
        Permission::LicenceRead,
        Permission::LicenceManage,
        Permission::DatasetManage,
        Permission::RunLaunch,
        Permission::RunRead,
        Permission::WebhookManage,
    ];
}

impl Role {
    /// The whole permission table. A `match` on both enums so that a new role or permission does
    /// not compile until somebody decides who gets it.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Admin => true,
            Role::Manager => match permission {
                P::SelfService | P::OrgRead => true,
                P::ArtifactRead | P::ArtifactUpload | P::ArtifactContent => true,
                P::AssetRead | P::AssetManage | P::CostRead => true,
                P::AgreementRead | P::AgreementDraft | P::AgreementApprove | P::AgreementAccept | P::StatementRead => true,
                // Sales and review responses are the licensee's.
                P::SalesReport | P::AgreementRespond => false,
                P::LicenceRead | P::LicenceManage | P::RunRead => true,
                P::DatasetManage | P::RunLaunch => false,
                P::KeysManage | P::WebhookManage => false,
                P::OrgManage | P::UserRead | P::UserManage | P::AuditRead | P::AuditExport => false,
                P::AuditVerify | P::MetricsRead => false,
            },
            // Auditors read everything and change nothing.
            Role::Auditor => match permission {
                P::SelfService | P::OrgRead | P::UserRead => true,
                P::AuditRead | P::AuditExport | P::AuditVerify | P::MetricsRead => true,
                P::ArtifactRead | P::ArtifactContent | P::AssetRead | P::CostRead => true,
                P::AgreementRead | P::StatementRead | P::LicenceRead | P::RunRead => true,
                P::LicenceManage | P::DatasetManage | P::RunLaunch => false,
                P::OrgManage | P::UserManage | P::ArtifactUpload | P::KeysManage | P::AssetManage | P::WebhookManage => false,
                P::AgreementDraft | P::AgreementApprove | P::AgreementAccept | P::AgreementRespond | P::SalesReport => false,
            },
            Role::Licensee => match permission {
                P::SelfService | P::OrgRead => true,
                P::ArtifactRead | P::ArtifactUpload | P::ArtifactContent => true,
                P::AssetRead => true,
                P::KeysManage | P::AssetManage | P::CostRead => false,
                P::AgreementRead | P::AgreementAccept | P::AgreementRespond | P::SalesReport | P::StatementRead => true,
                P::LicenceRead | P::DatasetManage | P::RunLaunch | P::RunRead | P::WebhookManage => true,
                P::LicenceManage => false,
                P::AgreementDraft | P::AgreementApprove => false,
                P::OrgManage | P::UserRead | P::UserManage => false,
                P::AuditRead | P::AuditExport | P::AuditVerify | P::MetricsRead => false,
            },
        }
    }

    /// Whether this role may read the decrypted content of an artifact attached to `kind`
    /// (`dataset`, `model`, `run`, `agreement`, ...). Auditors review documents, never the
    /// licensees' data or the models trained on it.
    pub fn may_read_content_of(self, attached_kind: &str) -> bool {
        match self {
            Role::Auditor => !matches!(attached_kind, "dataset" | "model" | "run"),
            // A licensee's data and the weights trained on it are the licensee's: the licensor's
            // managers see runs and metrics, and the model leaves only as the licence allows.
            Role::Manager => !matches!(attached_kind, "dataset" | "run") && self.allows(Permission::ArtifactContent),
            _ => self.allows(Permission::ArtifactContent),
        }
    }

    /// Whether this role sees every organisation's objects or only its own.
    pub fn sees_all_organisations(self) -> bool {
        !matches!(self, Role::Licensee)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auditors_never_change_anything() {
        assert!(!Role::Auditor.allows(Permission::UserManage));
        assert!(!Role::Auditor.allows(Permission::OrgManage));
        assert!(Role::Auditor.allows(Permission::AuditVerify));
    }

    #[test]
    fn licensees_have_only_self_service_and_their_organisation() {
        let allowed: Vec<_> = Permission::ALL.into_iter().filter(|p| Role::Licensee.allows(*p)).collect();
        assert_eq!(
            allowed,
            vec![
                Permission::SelfService,
                Permission::OrgRead,
                Permission::ArtifactRead,
                Permission::ArtifactUpload,
                Permission::ArtifactContent,
                Permission::AssetRead,
                Permission::AgreementRead,
                Permission::AgreementAccept,
                Permission::AgreementRespond,
                Permission::SalesReport,
                Permission::StatementRead,
                Permission::LicenceRead,
                Permission::DatasetManage,
                Permission::RunLaunch,
                Permission::RunRead,
                Permission::WebhookManage,
            ]
        );
        assert!(!Role::Licensee.sees_all_organisations());
    }

    #[test]
    fn managers_cannot_administer_or_read_the_audit_log() {
        for p in [Permission::UserManage, Permission::OrgManage, Permission::AuditRead] {
            assert!(!Role::Manager.allows(p), "{p:?}");
        }
    }

    #[test]
    fn auditors_read_documents_but_never_datasets_or_models() {
        assert!(Role::Auditor.may_read_content_of("agreement"));
        for kind in ["dataset", "model", "run"] {
            assert!(!Role::Auditor.may_read_content_of(kind), "{kind}");
            assert!(Role::Licensee.may_read_content_of(kind), "{kind}");
        }
        for kind in ["dataset", "run"] {
            assert!(!Role::Manager.may_read_content_of(kind), "managers never read a licensee's {kind}");
        }
    }

    #[test]
    fn admins_may_do_everything() {
        assert!(Permission::ALL.iter().all(|p| Role::Admin.allows(*p)));
    }
}
