//! The store conformance suite: one set of tests over the store traits, run against every
//! backend, so backends cannot drift apart. Each test takes a fresh, empty store from the
//! backend's opener and uses nothing but the traits.
//!
//! SQLite and PostgreSQL run every case. A backend joins with one line at the bottom:
//! `with_every_case!(suite, name, opener);`.

mod callbacks;
mod flows;
mod idempotency;
mod sandbox;
mod search;
mod support;
mod tenancy;

/// Declares every case of the suite for one backend.
macro_rules! suite {
    ($backend:ident, $open:path, [$($module:ident :: $name:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $name() {
                    let fixture = crate::support::Fixture::new($open().await).await;
                    crate::$module::$name(&fixture).await;
                }
            )*
        }
    };
}

/// Calls `$then!(args..., [every case])`: the list of cases, written once.
macro_rules! with_every_case {
    ($then:ident, $($args:tt)*) => {
        $then!($($args)*, [
                flows::accepting_stores_the_flow_and_leases_its_first_job,
                flows::a_flow_belongs_to_its_account_only,
                flows::a_reply_prefers_a_sent_step_to_one_still_being_submitted,
                flows::events_apply_and_the_timeline_grows,
                flows::a_report_before_its_id_is_held_then_applied,
                flows::a_report_matches_any_form_of_its_id,
                flows::timers_fire_when_due_and_not_before,
                flows::a_leased_job_is_claimed_only_after_its_lease,
                flows::a_retried_job_comes_back_when_due,
                flows::a_finished_job_is_gone,
                flows::imported_flows_read_back_and_refuse_taken_ids,
                flows::provider_notes_land_in_the_timeline_and_change_nothing_else,
                flows::a_call_is_claimed_once_per_step_and_provider,
                flows::calls_in_flight_are_listed_until_their_flow_ends,
                callbacks::a_flow_callbacks_are_claimed_one_at_a_time_in_sequence,
                callbacks::a_retry_waits_for_its_time,
                callbacks::dead_letters_are_listed_and_redelivered,
                callbacks::every_attempt_is_in_the_timeline,
                idempotency::a_claimed_key_is_in_flight_until_completed,
                idempotency::a_completed_key_replays_or_conflicts,
                idempotency::a_released_key_is_free_again,
                idempotency::an_abandoned_claim_is_taken_over_and_its_owner_cannot_commit,
                idempotency::old_keys_are_purged,
                search::search_filters_pages_and_counts_within_one_account,
                search::status_and_termination_channel_follow_a_flow_s_life,
                sandbox::the_newest_matching_rule_with_sends_left_is_chosen,
                sandbox::a_resend_gets_its_first_ids_and_schedules_nothing,
                sandbox::sends_of_one_reference_racing_each_other_record_it_once,
                sandbox::owed_reports_fall_due_and_go_when_acknowledged,
                sandbox::a_report_read_and_not_acknowledged_is_due_again_at_once,
                sandbox::reports_being_delivered_are_left_out_of_the_next_read,
                sandbox::rules_and_messages_are_listed_and_deleted,
                tenancy::accounts_applications_senders_tokens_and_settings,
                tenancy::accounts_and_applications_are_listed_and_flows_found_by_id
        ]);
    };
}

with_every_case!(suite, sqlite, crate::support::sqlite);
with_every_case!(suite, postgres, crate::support::postgres);
