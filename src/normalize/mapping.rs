//! The mapping tables of `docs/SCHEMA.md`, in one place: source severities to the syslog
//! scale (`event.severity`), and source operations to ECS `event.category` / `event.type`.
//!
//! Every table returns only values that ECS 8.x allows, and only category/type pairs it
//! expects (checked by the tests below against ECS's own table).

/// An ECS `event.category` and `event.type` pair: arrays with one or two entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Categorization {
    /// `event.category`.
    pub category: &'static [&'static str],
    /// `event.type`.
    pub kind: &'static [&'static str],
}

const fn cat(category: &'static [&'static str], kind: &'static [&'static str]) -> Categorization {
    Categorization { category, kind }
}

// ---------------------------------------------------------------------------------------
// Severity

/// Windows `Level` (0-5) to the syslog scale: 1 Critical → 2, 2 Error → 3, 3 Warning → 4,
/// 0 LogAlways and 4 Information → 6, 5 Verbose → 7. `None` for provider-defined levels.
pub fn windows_level_severity(level: u64) -> Option<u8> {
    match level {
        1 => Some(2),
        2 => Some(3),
        3 => Some(4),
        0 | 4 => Some(6),
        5 => Some(7),
        _ => None,
    }
}

/// A Windows level given only by name (rendered `Level`, Winlogbeat's `log.level`, NXLog's
/// `EventType`), in any case. `None` for other names (NXLog's `AUDIT_SUCCESS`/`AUDIT_FAILURE`
/// are keywords, not levels: audit events have level 0).
pub fn windows_level_name_severity(name: &str) -> Option<u8> {
    windows_level_of_name(name).and_then(|l| windows_level_severity(l.into()))
}

/// The numeric Windows level a level name stands for, in any case (information as 4,
/// LogAlways as 0); `None` for other names.
pub fn windows_level_of_name(name: &str) -> Option<u8> {
    const NAMES: [(&str, u8); 8] = [
        ("logalways", 0),
        ("critical", 1),
        ("error", 2),
        ("warning", 3),
        ("information", 4),
        ("informational", 4),
        ("info", 4),
        ("verbose", 5),
    ];
    let name = name.trim();
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, l)| l)
}

/// The severity of a Windows event: its level's (6 when it has none that is known), raised
/// to 4 (warning) for an audit failure whose level says less.
pub fn windows_severity(level: Option<u8>, audit_failure: bool) -> u8 {
    let s = level.unwrap_or(6);
    if audit_failure {
        s.min(4)
    } else {
        s
    }
}

/// CloudTrail: 3 (error) for a failed call (`errorCode`, or a failed console sign-in), else 6.
pub fn cloudtrail_severity(failed: bool) -> u8 {
    if failed {
        3
    } else {
        6
    }
}

/// Azure `level` in any case: Critical → 2, Error → 3, Warning → 4, Informational or
/// Information → 6, Verbose → 7; absent or unknown → 6.
pub fn azure_severity(level: Option<&str>) -> u8 {
    match level {
        Some(l) if l.eq_ignore_ascii_case("critical") => 2,
        Some(l) if l.eq_ignore_ascii_case("error") => 3,
        Some(l) if l.eq_ignore_ascii_case("warning") => 4,
        Some(l) if l.eq_ignore_ascii_case("verbose") => 7,
        _ => 6,
    }
}

/// GCP `LogSeverity` name: EMERGENCY 0 … DEBUG 7; DEFAULT, absent or unknown → 6.
pub fn gcp_severity(severity: Option<&str>) -> u8 {
    const NAMES: [&str; 8] = [
        "EMERGENCY",
        "ALERT",
        "CRITICAL",
        "ERROR",
        "WARNING",
        "NOTICE",
        "INFO",
        "DEBUG",
    ];
    severity
        .and_then(|s| NAMES.iter().position(|n| n.eq_ignore_ascii_case(s)))
        .map_or(6, |i| i as u8)
}

// ---------------------------------------------------------------------------------------
// Windows

/// The provider of the Security audit events (whose task numbers name audit subcategories).
pub const SECURITY_AUDITING_PROVIDER: &str = "Microsoft-Windows-Security-Auditing";

/// Names of the Security log's task numbers (its audit subcategories), for events that carry
/// the number but no rendered name (EVTX files, XML without `RenderingInfo`).
const SECURITY_TASKS: [(u32, &str); 57] = [
    (12288, "Security State Change"),
    (12289, "Security System Extension"),
    (12290, "System Integrity"),
    (12291, "IPsec Driver"),
    (12292, "Other System Events"),
    (12544, "Logon"),
    (12545, "Logoff"),
    (12546, "Account Lockout"),
    (12547, "IPsec Main Mode"),
    (12548, "Special Logon"),
    (12549, "IPsec Quick Mode"),
    (12550, "IPsec Extended Mode"),
    (12551, "Other Logon/Logoff Events"),
    (12552, "Network Policy Server"),
    (12553, "User / Device Claims"),
    (12554, "Group Membership"),
    (12800, "File System"),
    (12801, "Registry"),
    (12802, "Kernel Object"),
    (12803, "SAM"),
    (12804, "Other Object Access Events"),
    (12805, "Certification Services"),
    (12806, "Application Generated"),
    (12807, "Handle Manipulation"),
    (12808, "File Share"),
    (12809, "Filtering Platform Packet Drop"),
    (12810, "Filtering Platform Connection"),
    (12811, "Detailed File Share"),
    (12812, "Removable Storage"),
    (12813, "Central Policy Staging"),
    (13056, "Sensitive Privilege Use"),
    (13057, "Non Sensitive Privilege Use"),
    (13058, "Other Privilege Use Events"),
    (13312, "Process Creation"),
    (13313, "Process Termination"),
    (13314, "DPAPI Activity"),
    (13315, "RPC Events"),
    (13316, "Plug and Play Events"),
    (13568, "Audit Policy Change"),
    (13569, "Authentication Policy Change"),
    (13570, "Authorization Policy Change"),
    (13571, "MPSSVC Rule-Level Policy Change"),
    (13572, "Filtering Platform Policy Change"),
    (13573, "Other Policy Change Events"),
    (13824, "User Account Management"),
    (13825, "Computer Account Management"),
    (13826, "Security Group Management"),
    (13827, "Distribution Group Management"),
    (13828, "Application Group Management"),
    (13829, "Other Account Management Events"),
    (14080, "Directory Service Access"),
    (14081, "Directory Service Changes"),
    (14082, "Directory Service Replication"),
    (14083, "Detailed Directory Service Replication"),
    (14336, "Credential Validation"),
    (14337, "Kerberos Service Ticket Operations"),
    (14338, "Other Account Logon Events"),
];

/// The name of task `task` of `provider` when this table knows it (the Security log's).
pub fn windows_task_name(provider: &str, task: u32) -> Option<&'static str> {
    if provider != SECURITY_AUDITING_PROVIDER {
        return None;
    }
    SECURITY_TASKS
        .binary_search_by_key(&task, |&(t, _)| t)
        .ok()
        .map(|i| SECURITY_TASKS[i].1)
}

/// Windows events by provider and event ID.
const WINDOWS_EVENTS: [(&str, u32, Categorization); 42] = {
    const SEC: &str = SECURITY_AUDITING_PROVIDER;
    const SYSMON: &str = "Microsoft-Windows-Sysmon";
    const AUTH_START: Categorization = cat(&["authentication"], &["start"]);
    const AUTH_END: Categorization = cat(&["authentication"], &["end"]);
    const USER_CHANGE: Categorization = cat(&["iam"], &["user", "change"]);
    const GROUP_CHANGE: Categorization = cat(&["iam"], &["group", "change"]);
    [
        (SEC, 1102, cat(&["configuration"], &["deletion"])),
        (SEC, 4624, AUTH_START),
        (SEC, 4625, AUTH_START),
        (SEC, 4634, AUTH_END),
        (SEC, 4647, AUTH_END),
        (SEC, 4648, AUTH_START),
        (SEC, 4672, cat(&["iam"], &["admin"])),
        (SEC, 4688, cat(&["process"], &["start"])),
        (SEC, 4689, cat(&["process"], &["end"])),
        (SEC, 4697, cat(&["configuration"], &["creation"])),
        (SEC, 4719, cat(&["configuration"], &["change"])),
        (SEC, 4720, cat(&["iam"], &["user", "creation"])),
        (SEC, 4722, USER_CHANGE),
        (SEC, 4723, USER_CHANGE),
        (SEC, 4724, USER_CHANGE),
        (SEC, 4725, USER_CHANGE),
        (SEC, 4726, cat(&["iam"], &["user", "deletion"])),
        (SEC, 4727, cat(&["iam"], &["group", "creation"])),
        (SEC, 4728, GROUP_CHANGE),
        (SEC, 4729, GROUP_CHANGE),
        (SEC, 4731, cat(&["iam"], &["group", "creation"])),
        (SEC, 4732, GROUP_CHANGE),
        (SEC, 4733, GROUP_CHANGE),
        (SEC, 4738, USER_CHANGE),
        (SEC, 4740, USER_CHANGE),
        (SEC, 4756, GROUP_CHANGE),
        (SEC, 4767, USER_CHANGE),
        (SEC, 4768, AUTH_START),
        (SEC, 4769, AUTH_START),
        (SEC, 4771, AUTH_START),
        (SEC, 4776, AUTH_START),
        (SEC, 4907, cat(&["configuration"], &["change"])),
        (SEC, 5152, cat(&["network"], &["connection", "denied"])),
        (SEC, 5156, cat(&["network"], &["connection", "allowed"])),
        (SEC, 5157, cat(&["network"], &["connection", "denied"])),
        (
            "Service Control Manager",
            7045,
            cat(&["configuration"], &["creation"]),
        ),
        ("Application Error", 1000, cat(&["process"], &["end"])),
        (SYSMON, 1, cat(&["process"], &["start"])),
        (SYSMON, 3, cat(&["network"], &["connection", "start"])),
        (SYSMON, 5, cat(&["process"], &["end"])),
        (SYSMON, 11, cat(&["file"], &["creation"])),
        (SYSMON, 22, cat(&["network"], &["protocol"])),
    ]
};

/// `event.category`/`event.type` of a Windows event, when the table knows it.
pub fn windows_categorization(provider: &str, event_id: u32) -> Option<Categorization> {
    WINDOWS_EVENTS
        .iter()
        .find(|(p, id, _)| *id == event_id && *p == provider)
        .map(|&(_, _, c)| c)
}

// ---------------------------------------------------------------------------------------
// Cloud control-plane operations

/// What an API operation does, from its verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Creation,
    Deletion,
    Change,
    Access,
}

/// Verb of an operation name such as `CreateUser`, `insert`, `SetIamPolicy`, `write`, in any
/// case; `Change` when nothing more specific is recognised.
fn verb(op: &str) -> Verb {
    const CREATION: [&str; 6] = ["create", "insert", "run", "add", "register", "issue"];
    const DELETION: [&str; 5] = ["delete", "terminate", "remove", "deregister", "destroy"];
    const ACCESS: [&str; 8] = [
        "get",
        "list",
        "describe",
        "read",
        "lookup",
        "head",
        "search",
        "aggregatedlist",
    ];
    let starts = |w: &str| {
        op.len() >= w.len() && op.as_bytes()[..w.len()].eq_ignore_ascii_case(w.as_bytes())
    };
    if CREATION.iter().any(|w| starts(w)) {
        Verb::Creation
    } else if DELETION.iter().any(|w| starts(w)) {
        Verb::Deletion
    } else if ACCESS.iter().any(|w| starts(w)) {
        Verb::Access
    } else {
        Verb::Change
    }
}

fn contains_ci(s: &str, needle: &str) -> bool {
    s.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// An identity operation: `iam` with the verb's type (`info` for reads, which `iam` has no
/// `access` for), plus `user` / `group` when the operation names one.
fn iam(op: &str) -> Categorization {
    let user = contains_ci(op, "user");
    let group = contains_ci(op, "group");
    match (verb(op), user, group) {
        (Verb::Creation, true, _) => cat(&["iam"], &["user", "creation"]),
        (Verb::Deletion, true, _) => cat(&["iam"], &["user", "deletion"]),
        (Verb::Change, true, _) => cat(&["iam"], &["user", "change"]),
        (Verb::Creation, false, true) => cat(&["iam"], &["group", "creation"]),
        (Verb::Deletion, false, true) => cat(&["iam"], &["group", "deletion"]),
        (Verb::Change, false, true) => cat(&["iam"], &["group", "change"]),
        (Verb::Creation, ..) => cat(&["iam"], &["creation"]),
        (Verb::Deletion, ..) => cat(&["iam"], &["deletion"]),
        (Verb::Change, ..) => cat(&["iam"], &["change"]),
        (Verb::Access, ..) => cat(&["iam"], &["info"]),
    }
}

/// A change to a cloud resource's configuration (the default for control-plane calls).
fn configuration(op: &str) -> Categorization {
    match verb(op) {
        Verb::Creation => cat(&["configuration"], &["creation"]),
        Verb::Deletion => cat(&["configuration"], &["deletion"]),
        Verb::Change => cat(&["configuration"], &["change"]),
        Verb::Access => cat(&["configuration"], &["access"]),
    }
}

/// An object read or written in a storage service.
fn file(op: &str) -> Categorization {
    match verb(op) {
        Verb::Creation => cat(&["file"], &["creation"]),
        Verb::Deletion => cat(&["file"], &["deletion"]),
        Verb::Change => cat(&["file"], &["change"]),
        Verb::Access => cat(&["file"], &["access"]),
    }
}

const HOST_START: Categorization = cat(&["host"], &["start"]);
const HOST_END: Categorization = cat(&["host"], &["end"]);
const AUTHENTICATION: Categorization = cat(&["authentication"], &["start"]);

/// CloudTrail `eventSource` and `eventName`.
pub fn cloudtrail_categorization(event_source: &str, event_name: &str) -> Categorization {
    let service = event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source);
    match (service, event_name) {
        ("signin", _) => AUTHENTICATION,
        (
            "sts",
            "AssumeRole"
            | "AssumeRoleWithSAML"
            | "AssumeRoleWithWebIdentity"
            | "GetSessionToken"
            | "GetFederationToken",
        ) => AUTHENTICATION,
        ("iam" | "sts" | "sso" | "identitystore" | "organizations", op) => iam(op),
        ("ec2", "RunInstances" | "StartInstances") => HOST_START,
        ("ec2", "StopInstances" | "TerminateInstances") => HOST_END,
        ("s3", op) if op.ends_with("Object") || op.ends_with("Objects") => file(op),
        (_, op) => configuration(op),
    }
}

/// Azure `operationName` (`Provider/type/.../verb`, any case).
pub fn azure_categorization(operation: &str) -> Categorization {
    let mut parts = operation.rsplit('/');
    let last = parts.next().unwrap_or_default();
    let before = parts.next().unwrap_or_default();
    let provider = operation.split('/').next().unwrap_or_default();
    let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let op = if is(last, "action") { before } else { last };
    let verb_word = match op {
        o if is(o, "write") => "update",
        o if is(o, "read") => "read",
        o => o,
    };
    if is(provider, "Microsoft.Authorization") || is(provider, "Microsoft.ManagedIdentity") {
        return iam(verb_word);
    }
    if is(provider, "Microsoft.Compute") && contains_ci(operation, "/virtualMachines/") {
        if is(last, "action") && (is(before, "start") || is(before, "restart")) {
            return HOST_START;
        }
        if is(last, "action") && (is(before, "powerOff") || is(before, "deallocate")) {
            return HOST_END;
        }
    }
    if is(provider, "Microsoft.Storage") && contains_ci(operation, "/blobs/") {
        return file(verb_word);
    }
    configuration(verb_word)
}

/// GCP audit `serviceName` and `methodName`.
pub fn gcp_categorization(service: &str, method: &str) -> Categorization {
    let op = method.rsplit('.').next().unwrap_or(method);
    if service == "login.googleapis.com" {
        return AUTHENTICATION;
    }
    if service == "iam.googleapis.com"
        || service == "iamcredentials.googleapis.com"
        || contains_ci(op, "IamPolicy")
    {
        return iam(op);
    }
    if service == "storage.googleapis.com" && method.starts_with("storage.objects.") {
        return file(op);
    }
    if service == "compute.googleapis.com" && contains_ci(method, ".instances.") {
        match op {
            "start" | "resume" | "reset" => return HOST_START,
            "stop" | "suspend" => return HOST_END,
            _ => {}
        }
    }
    configuration(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ECS 8.x: the `event.type` values expected with each `event.category`.
    const ECS_EXPECTED: [(&str, &[&str]); 19] = [
        (
            "api",
            &[
                "access", "admin", "allowed", "change", "creation", "deletion", "denied", "end",
                "info", "start", "user",
            ],
        ),
        ("authentication", &["start", "end", "info"]),
        (
            "configuration",
            &["access", "change", "creation", "deletion", "info"],
        ),
        ("database", &["access", "change", "info", "error"]),
        ("driver", &["change", "end", "info", "start"]),
        ("email", &["info"]),
        (
            "file",
            &["change", "creation", "deletion", "info", "access"],
        ),
        ("host", &["access", "change", "end", "info", "start"]),
        (
            "iam",
            &[
                "admin", "change", "creation", "deletion", "group", "info", "user",
            ],
        ),
        ("intrusion_detection", &["allowed", "denied", "info"]),
        ("library", &["start"]),
        ("malware", &["info"]),
        (
            "network",
            &[
                "access",
                "allowed",
                "connection",
                "denied",
                "end",
                "info",
                "protocol",
                "start",
            ],
        ),
        (
            "package",
            &[
                "access",
                "change",
                "deletion",
                "info",
                "installation",
                "start",
            ],
        ),
        ("process", &["access", "change", "end", "info", "start"]),
        ("registry", &["access", "change", "creation", "deletion"]),
        ("session", &["start", "end", "info"]),
        ("threat", &["indicator"]),
        ("web", &["access", "error", "info"]),
    ];

    fn assert_ecs(c: Categorization, what: &str) {
        assert!(!c.category.is_empty() && !c.kind.is_empty(), "{what}");
        for category in c.category {
            let (_, allowed) = ECS_EXPECTED
                .iter()
                .find(|(name, _)| name == category)
                .unwrap_or_else(|| panic!("{what}: {category} is no ECS category"));
            for t in c.kind {
                assert!(
                    allowed.contains(t),
                    "{what}: {category}/{t} is not expected by ECS"
                );
            }
        }
    }

    #[test]
    fn windows_levels() {
        let expected = [(0, 6), (1, 2), (2, 3), (3, 4), (4, 6), (5, 7)];
        for (level, sev) in expected {
            assert_eq!(windows_level_severity(level), Some(sev), "level {level}");
        }
        assert_eq!(windows_level_severity(16), None);
        for (name, sev) in [
            ("Critical", 2),
            ("ERROR", 3),
            ("warning", 4),
            ("Information", 6),
            ("information", 6),
            ("INFO", 6),
            ("Verbose", 7),
        ] {
            assert_eq!(windows_level_name_severity(name), Some(sev), "{name}");
        }
        assert_eq!(windows_level_name_severity("AUDIT_FAILURE"), None);
        assert_eq!(windows_level_name_severity("AUDIT_SUCCESS"), None);
    }

    #[test]
    fn audit_failure_is_at_least_a_warning() {
        assert_eq!(windows_severity(Some(6), true), 4);
        assert_eq!(windows_severity(None, true), 4);
        assert_eq!(
            windows_severity(Some(3), true),
            3,
            "an error stays an error"
        );
        assert_eq!(windows_severity(Some(6), false), 6);
        assert_eq!(windows_severity(None, false), 6);
    }

    #[test]
    fn cloud_severities() {
        assert_eq!(cloudtrail_severity(true), 3);
        assert_eq!(cloudtrail_severity(false), 6);
        for (level, sev) in [
            ("Critical", 2),
            ("Error", 3),
            ("Warning", 4),
            ("Informational", 6),
            ("Information", 6),
            ("Verbose", 7),
            ("ERROR", 3),
        ] {
            assert_eq!(azure_severity(Some(level)), sev, "{level}");
        }
        assert_eq!(azure_severity(None), 6);
        for (name, sev) in [
            ("EMERGENCY", 0),
            ("ALERT", 1),
            ("CRITICAL", 2),
            ("ERROR", 3),
            ("WARNING", 4),
            ("NOTICE", 5),
            ("INFO", 6),
            ("DEBUG", 7),
            ("DEFAULT", 6),
        ] {
            assert_eq!(gcp_severity(Some(name)), sev, "{name}");
        }
        assert_eq!(gcp_severity(None), 6);
    }

    #[test]
    fn task_names() {
        assert!(SECURITY_TASKS.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
        assert_eq!(
            windows_task_name(SECURITY_AUDITING_PROVIDER, 12544),
            Some("Logon")
        );
        assert_eq!(
            windows_task_name(SECURITY_AUDITING_PROVIDER, 13824),
            Some("User Account Management")
        );
        assert_eq!(windows_task_name("Service Control Manager", 12544), None);
        assert_eq!(windows_task_name(SECURITY_AUDITING_PROVIDER, 0), None);
    }

    #[test]
    fn every_table_entry_is_ecs() {
        for (p, id, c) in WINDOWS_EVENTS {
            assert_ecs(c, &format!("{p} {id}"));
        }
        let ops = [
            "CreateUser",
            "DeleteUser",
            "AttachUserPolicy",
            "ListUsers",
            "CreateGroup",
            "AddUserToGroup",
            "GetCallerIdentity",
            "PutBucketPolicy",
            "RunInstances",
            "DescribeInstances",
            "ConsoleLogin",
            "x",
            "",
        ];
        for source in [
            "iam.amazonaws.com",
            "sts.amazonaws.com",
            "signin.amazonaws.com",
            "ec2.amazonaws.com",
            "s3.amazonaws.com",
            "kms.amazonaws.com",
            "",
        ] {
            for op in ops {
                assert_ecs(
                    cloudtrail_categorization(source, op),
                    &format!("{source} {op}"),
                );
                assert_ecs(
                    cloudtrail_categorization(source, &format!("{op}Object")),
                    &format!("{source} {op}Object"),
                );
            }
        }
        for op in [
            "Microsoft.Compute/virtualMachines/write",
            "MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE",
            "Microsoft.Compute/virtualMachines/start/action",
            "Microsoft.Compute/virtualMachines/deallocate/action",
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
            "Microsoft.KeyVault/vaults/write",
            "",
            "/",
            "a/b/action",
        ] {
            assert_ecs(azure_categorization(op), op);
        }
        for (service, method) in [
            ("compute.googleapis.com", "v1.compute.instances.insert"),
            ("compute.googleapis.com", "v1.compute.instances.stop"),
            ("cloudresourcemanager.googleapis.com", "SetIamPolicy"),
            ("storage.googleapis.com", "storage.objects.get"),
            (
                "iam.googleapis.com",
                "google.iam.admin.v1.CreateServiceAccountKey",
            ),
            (
                "login.googleapis.com",
                "google.login.LoginService.loginSuccess",
            ),
            ("", ""),
        ] {
            assert_ecs(gcp_categorization(service, method), method);
        }
    }

    #[test]
    fn operations_are_classified() {
        assert_eq!(
            cloudtrail_categorization("signin.amazonaws.com", "ConsoleLogin"),
            cat(&["authentication"], &["start"])
        );
        assert_eq!(
            cloudtrail_categorization("iam.amazonaws.com", "CreateUser"),
            cat(&["iam"], &["user", "creation"])
        );
        assert_eq!(
            cloudtrail_categorization("iam.amazonaws.com", "AttachUserPolicy"),
            cat(&["iam"], &["user", "change"])
        );
        assert_eq!(
            cloudtrail_categorization("sts.amazonaws.com", "GetCallerIdentity"),
            cat(&["iam"], &["info"])
        );
        assert_eq!(
            cloudtrail_categorization("ec2.amazonaws.com", "TerminateInstances"),
            cat(&["host"], &["end"])
        );
        assert_eq!(
            cloudtrail_categorization("s3.amazonaws.com", "PutBucketPolicy"),
            cat(&["configuration"], &["change"])
        );
        assert_eq!(
            cloudtrail_categorization("s3.amazonaws.com", "GetObject"),
            cat(&["file"], &["access"])
        );
        assert_eq!(
            azure_categorization("MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE"),
            cat(&["configuration"], &["deletion"])
        );
        assert_eq!(
            azure_categorization("Microsoft.Compute/virtualMachines/start/action"),
            cat(&["host"], &["start"])
        );
        assert_eq!(
            azure_categorization("Microsoft.Authorization/roleAssignments/write"),
            cat(&["iam"], &["change"])
        );
        assert_eq!(
            gcp_categorization("storage.googleapis.com", "storage.objects.get"),
            cat(&["file"], &["access"])
        );
        assert_eq!(
            gcp_categorization("cloudresourcemanager.googleapis.com", "SetIamPolicy"),
            cat(&["iam"], &["change"])
        );
        assert_eq!(
            gcp_categorization("compute.googleapis.com", "v1.compute.instances.insert"),
            cat(&["configuration"], &["creation"])
        );
        assert_eq!(
            windows_categorization(SECURITY_AUDITING_PROVIDER, 4720),
            Some(cat(&["iam"], &["user", "creation"]))
        );
        assert_eq!(
            windows_categorization("Service Control Manager", 7036),
            None
        );
    }
}
