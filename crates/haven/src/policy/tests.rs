//! The policy against every role: the matrices are the readable statement of who may
//! do what.

use super::*;
use crate::identity::{User, UserStatus};

fn person(roles: &[Role]) -> Identity {
    Identity {
        user: User {
            id: UserId(uuid::Uuid::from_u128(1)),
            email: "x@example.org".to_owned(),
            display_name: "X".to_owned(),
            status: UserStatus::Active,
            roles: roles.to_vec(),
            supervisor_id: None,
            is_trainee: false,
            has_second_factor: false,
            password_hash: None,
        },
        session: None,
        api_token: None,
        csrf_token: None,
        installation_help: true,
    }
}

/// Every role of SPEC.md against every action that exists, allowed and denied.
/// Holds every role to its row: one mark per action (`Y` allowed, `.` denied; spaces
/// group columns for reading).
fn assert_matrix(actions: &[Action], rows: &[(Role, &str)]) {
    assert_eq!(rows.len(), Role::ALL.len(), "every role is in the matrix");
    for (role, row) in rows {
        let row: Vec<bool> = row.chars().filter(|c| *c != ' ').map(|c| c == 'Y').collect();
        assert_eq!(row.len(), actions.len(), "{role}: one mark per action");
        let identity = person(&[*role]);
        for (action, allowed) in actions.iter().zip(row) {
            assert_eq!(may(&identity, action).is_allowed(), allowed, "{role} {action:?}");
        }
    }
}

#[test]
fn role_by_action_matrix() {
    use Role::{Auditor, CaseManager, Clinician, FrontDesk, HelpEditor, OrgAdmin, Supervisor};
    let someone_else = UserId(uuid::Uuid::from_u128(2));
    let me = UserId(uuid::Uuid::from_u128(1));
    let actions = [
        Action::ManageOwnAccount,
        Action::ViewUsers,
        Action::ManageUsers,
        Action::ViewSignInHistory { of: me },
        Action::ViewSignInHistory { of: someone_else },
        Action::ReadAuditTrail,
        Action::ExportAuditTrail,
        Action::ManageOrganisation,
        Action::ManageJobs,
    ];
    // Columns follow `actions`.
    let expected: [(Role, [bool; 9]); 7] = [
        (Clinician, [true, false, false, true, false, false, false, false, false]),
        (
            CaseManager,
            [true, false, false, true, false, false, false, false, false],
        ),
        (
            Supervisor,
            [true, false, false, true, false, false, false, false, false],
        ),
        (FrontDesk, [true, false, false, true, false, false, false, false, false]),
        (OrgAdmin, [true, true, true, true, true, false, false, true, true]),
        (Auditor, [true, false, false, true, false, true, true, false, false]),
        (
            HelpEditor,
            [true, false, false, true, false, false, false, false, false],
        ),
    ];
    assert_eq!(expected.len(), Role::ALL.len(), "every role is in the matrix");
    for (role, row) in expected {
        let identity = person(&[role]);
        for (action, allowed) in actions.iter().zip(row) {
            assert_eq!(may(&identity, action).is_allowed(), allowed, "{role} {action:?}");
        }
    }
}

/// Every role against every client and referral action, with each relationship a
/// person can have to the client: none, care team, supervising the care team,
/// break-glass. `Y` allowed, `.` denied; columns follow `actions`.
#[test]
fn role_by_client_resource_matrix() {
    use Role::{Auditor, CaseManager, Clinician, FrontDesk, HelpEditor, OrgAdmin, Supervisor};
    let none = ClientFacts::default();
    let team = ClientFacts {
        on_care_team: true,
        ..ClientFacts::default()
    };
    let supervising = ClientFacts {
        supervises_care_team: true,
        ..ClientFacts::default()
    };
    let glass = ClientFacts {
        break_glass: true,
        ..ClientFacts::default()
    };
    let new_person = ReferralFacts::default();
    let assigned = ReferralFacts {
        client: Some(none),
        assigned_to_them: true,
    };
    let about = |client| ReferralFacts {
        client: Some(client),
        assigned_to_them: false,
    };
    let actions = [
        Action::ListClients,
        Action::CreateClient,
        Action::ViewClient(none),
        Action::ViewClient(team),
        Action::ViewClient(supervising),
        Action::ViewClient(glass),
        Action::EditClient(none),
        Action::EditClient(team),
        Action::SetHipaaExempt,
        Action::ManageCareTeam(none),
        Action::ManageCareTeam(supervising),
        Action::ViewClinical(none),
        Action::ViewClinical(team),
        Action::ViewClinical(supervising),
        Action::ViewClinical(glass),
        Action::OpenBreakGlass(none),
        Action::OpenBreakGlass(team),
        Action::ReviewBreakGlass,
        Action::ListReferrals,
        Action::CreateReferral,
        Action::ViewReferral(new_person),
        Action::ViewReferral(about(none)),
        Action::ViewReferral(about(team)),
        Action::ViewReferral(assigned),
        Action::MoveReferral(about(none)),
        Action::MoveReferral(about(glass)),
    ];
    // Columns: list, create, view (none, team, supervising, glass), edit (none, team),
    // hipaa_exempt, care team (none, supervising), clinical (none, team, supervising,
    // glass), break-glass (none, team), review break-glass, list referrals, create
    // referral, view referral (new person, client not reached, client on team,
    // assigned), move referral (client not reached, client by break-glass).
    let rows: [(Role, &str); 7] = [
        (Clinician, "YY.Y.Y.Y ... . Y.YY .. YYY.YY .Y"),
        (CaseManager, "YY.Y.Y.Y ... . Y.YY .. YYY.YY .Y"),
        (Supervisor, "YY.YYY.Y ..Y. YYYY .Y YYY.YY .Y"),
        (FrontDesk, "YYYYYYYY .... .... .. ...... .."),
        (OrgAdmin, "Y.YYYY.. YYY. .... .Y ...... .."),
        (Auditor, "........ .... .... .. ...... .."),
        (HelpEditor, "........ .... .... .. ...... .."),
    ];
    assert_matrix(&actions, &rows);
}

#[test]
fn a_token_can_do_less_than_its_owner_never_more() {
    let mut admin = person(&[Role::OrgAdmin]);
    admin.api_token = Some(crate::identity::auth::ApiTokenInfo {
        id: crate::identity::api_token::TokenId(uuid::Uuid::from_u128(9)),
        scopes: vec!["users:read".to_owned(), "audit:read".to_owned()],
    });
    assert!(may(&admin, &Action::ViewUsers).is_allowed());
    assert!(!may(&admin, &Action::ManageUsers).is_allowed(), "no users:write scope");
    assert!(
        !may(&admin, &Action::ReadAuditTrail).is_allowed(),
        "the scope does not add a role"
    );
}

#[test]
fn roles_combine() {
    let both = person(&[Role::OrgAdmin, Role::Auditor]);
    assert!(may(&both, &Action::ManageUsers).is_allowed());
    assert!(may(&both, &Action::ReadAuditTrail).is_allowed());
    assert!(!may(&person(&[]), &Action::ViewUsers).is_allowed());
}

/// Every role against every scheduling action. `Y` allowed, `.` denied; columns
/// follow `actions`.
#[test]
fn role_by_schedule_matrix() {
    use Role::{Auditor, CaseManager, Clinician, FrontDesk, HelpEditor, OrgAdmin, Supervisor};
    let me = UserId(uuid::Uuid::from_u128(1));
    let someone_else = UserId(uuid::Uuid::from_u128(2));
    let unrelated = AppointmentFacts::default();
    let theirs = AppointmentFacts {
        involves_them: true,
        reaches_a_client: false,
    };
    let their_client = AppointmentFacts {
        involves_them: false,
        reaches_a_client: true,
    };
    let actions = [
        Action::ViewSchedule,
        Action::BookAppointment {
            reaches_every_client: true,
        },
        Action::BookAppointment {
            reaches_every_client: false,
        },
        Action::ViewAppointment(unrelated),
        Action::ViewAppointment(theirs),
        Action::ViewAppointment(their_client),
        Action::ChangeAppointment(unrelated),
        Action::ChangeAppointment(theirs),
        Action::ChangeAppointment(their_client),
        Action::SetAvailability { of: me },
        Action::SetAvailability { of: someone_else },
        Action::ManageRooms,
    ];
    let expected = [
        (Clinician, "YY..YY.YYY.."),
        (CaseManager, "YY..YY.YYY.."),
        (Supervisor, "YY..YY.YYY.."),
        (FrontDesk, "YYYYYYYYYYY."),
        (OrgAdmin, ".........YYY"),
        (Auditor, "............"),
        (HelpEditor, "............"),
    ];
    assert_matrix(&actions, &expected);
    assert_eq!(schedule_scope(&person(&[FrontDesk])), ScheduleScope::All);
    assert_eq!(schedule_scope(&person(&[Auditor])), ScheduleScope::Nothing);
    assert_eq!(
        schedule_scope(&person(&[Supervisor])),
        ScheduleScope::Involving {
            user: me,
            through_supervision: true
        }
    );
}

/// Every role against reading, amending and co-signing notes, for each way a person
/// can stand to a note: none, colleague on the care team, break-glass, author,
/// author's supervisor. `Y` allowed, `.` denied. Psychotherapy notes open to their
/// author and the author's supervisors only: never through break-glass, never for
/// case managers, front desk, admins or auditors.
#[test]
#[allow(clippy::too_many_lines)] // one matrix, read as a table
fn role_by_note_matrix() {
    use Role::{Auditor, CaseManager, Clinician, FrontDesk, HelpEditor, OrgAdmin, Supervisor};
    let team = ClientFacts {
        on_care_team: true,
        ..ClientFacts::default()
    };
    let supervising = ClientFacts {
        supervises_care_team: true,
        ..ClientFacts::default()
    };
    let glass = ClientFacts {
        break_glass: true,
        ..ClientFacts::default()
    };
    let standings = |psychotherapy| {
        let note = |client, is_author, supervises_author| NoteFacts {
            client,
            psychotherapy,
            signed: true,
            is_author,
            supervises_author,
            is_original_author: is_author,
            supervises_original_author: supervises_author,
        };
        [
            note(ClientFacts::default(), false, false),
            note(team, false, false),
            note(glass, false, false),
            note(team, true, false),
            note(supervising, false, true),
            // The author taken off the care team; the author's supervisor reaching
            // the client through break-glass only.
            note(ClientFacts::default(), true, false),
            note(glass, false, true),
        ]
    };
    let row = |identity: &Identity, psychotherapy: bool, make: &dyn Fn(NoteFacts) -> Action| -> String {
        standings(psychotherapy)
            .into_iter()
            .map(|facts| {
                if may(identity, &make(facts)).is_allowed() {
                    'Y'
                } else {
                    '.'
                }
            })
            .collect()
    };
    // view clinical, view psychotherapy, amend clinical, amend psychotherapy, co-sign,
    // open a document attached to a psychotherapy note, attach one to a psychotherapy
    // draft, open a document attached to no note
    let none = ".......";
    let expected = [
        (
            Clinician,
            [
                ".YYY..Y", "...Y...", ".YYY..Y", "...Y...", none, "...Y...", "...Y...", ".YYY..Y",
            ],
        ),
        (CaseManager, [".YYY..Y", none, none, none, none, none, none, ".YYY..Y"]),
        (
            Supervisor,
            [
                ".YYYY.Y", "...YY..", ".YYYY.Y", "...YY..", "....Y.Y", "...YY..", "...Y...", ".YYYY.Y",
            ],
        ),
        (FrontDesk, [none; 8]),
        (OrgAdmin, [none; 8]),
        (Auditor, [none; 8]),
        (HelpEditor, [none; 8]),
    ];
    let attached = |note: NoteFacts| {
        Action::OpenDocument(DocumentFacts {
            client: note.client,
            note: Some(note),
        })
    };
    let attach_to_draft = |note: NoteFacts| {
        Action::UploadDocument(DocumentFacts {
            client: note.client,
            note: Some(NoteFacts { signed: false, ..note }),
        })
    };
    let unattached = |note: NoteFacts| {
        Action::OpenDocument(DocumentFacts {
            client: note.client,
            note: None,
        })
    };
    assert_eq!(expected.len(), Role::ALL.len(), "every role is in the matrix");
    for (role, rows) in expected {
        let identity = person(&[role]);
        let got = [
            row(&identity, false, &Action::ViewNote),
            row(&identity, true, &Action::ViewNote),
            row(&identity, false, &Action::AmendNote),
            row(&identity, true, &Action::AmendNote),
            row(&identity, false, &Action::CosignNote),
            row(&identity, true, &attached),
            row(&identity, true, &attach_to_draft),
            row(&identity, true, &unattached),
        ];
        assert_eq!(got, rows.map(str::to_owned), "{role}");
    }
    // Writing: counsellors and supervisors who reach the client; a psychotherapy note
    // not through break-glass.
    let clinician = person(&[Clinician]);
    let write = |client, psychotherapy| Action::WriteNote { client, psychotherapy };
    assert!(may(&clinician, &write(team, true)).is_allowed());
    assert!(may(&clinician, &write(glass, false)).is_allowed());
    assert!(!may(&clinician, &write(glass, true)).is_allowed());
    assert!(!may(&person(&[CaseManager]), &write(team, false)).is_allowed());
    // Drafts: the author alone, and never once signed.
    let mine = NoteFacts {
        client: team,
        is_author: true,
        ..NoteFacts::default()
    };
    assert!(may(&clinician, &Action::EditDraft(mine)).is_allowed());
    assert!(may(&clinician, &Action::SignNote(mine)).is_allowed());
    let signed = NoteFacts { signed: true, ..mine };
    assert!(!may(&clinician, &Action::EditDraft(signed)).is_allowed());
    assert!(!may(&clinician, &Action::SignNote(signed)).is_allowed());
    let colleagues = NoteFacts {
        is_author: false,
        ..mine
    };
    assert!(!may(&person(&[Supervisor]), &Action::EditDraft(colleagues)).is_allowed());
    assert!(
        !may(&clinician, &Action::AmendNote(mine)).is_allowed(),
        "a draft is not amended"
    );
    for role in [FrontDesk, OrgAdmin, Auditor, HelpEditor] {
        let identity = person(&[role]);
        for action in [
            Action::RecordAssessment(team),
            Action::UploadDocument(DocumentFacts {
                client: team,
                note: None,
            }),
            Action::ViewDocuments(team),
            Action::AcknowledgeAlert(team),
            Action::ViewLateNotes,
            Action::ViewCosignQueue,
        ] {
            assert!(!may(&identity, &action).is_allowed(), "{role} {action:?}");
        }
    }
    assert!(may(&person(&[CaseManager]), &Action::RecordAssessment(team)).is_allowed());
    assert!(may(&person(&[CaseManager]), &Action::ViewDocuments(glass)).is_allowed());
}

/// Every role holding break-glass (and, for comparison, reaching the client through
/// supervision or the care team) against the actions that change who has access or
/// move a referral. Emergency access never changes the care team; admins change it
/// without reaching the client. `Y` allowed, `.` denied.
#[test]
fn role_by_care_team_and_referral_matrix_with_break_glass() {
    use Role::{Auditor, CaseManager, Clinician, FrontDesk, HelpEditor, OrgAdmin, Supervisor};
    let glass = ClientFacts {
        break_glass: true,
        ..ClientFacts::default()
    };
    let supervising = ClientFacts {
        supervises_care_team: true,
        ..ClientFacts::default()
    };
    let team = ClientFacts {
        on_care_team: true,
        ..ClientFacts::default()
    };
    let referral = ReferralFacts {
        client: Some(glass),
        assigned_to_them: false,
    };
    let actions = [
        Action::ManageCareTeam(glass),
        Action::ManageCareTeam(supervising),
        Action::ManageCareTeam(team),
        Action::ViewReferral(referral),
        Action::MoveReferral(referral),
        Action::ViewClinical(glass),
        Action::OpenBreakGlass(glass),
    ];
    let expected = [
        (Clinician, "...YYYY"),
        (CaseManager, "...YYYY"),
        (Supervisor, ".YYYYYY"),
        (FrontDesk, "......."),
        (OrgAdmin, "YYY...."),
        (Auditor, "......."),
        (HelpEditor, "......."),
    ];
    assert_matrix(&actions, &expected);
}

#[test]
fn only_help_editors_of_the_organisation_keeping_the_help_centre_edit_it() {
    for role in Role::ALL {
        assert_eq!(
            may(&person(&[role]), &Action::EditHelp).is_allowed(),
            role == Role::HelpEditor,
            "{role}"
        );
    }
    let elsewhere = Identity {
        installation_help: false,
        ..person(&[Role::HelpEditor])
    };
    assert!(!may(&elsewhere, &Action::EditHelp).is_allowed());
}
