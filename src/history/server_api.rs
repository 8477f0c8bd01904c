//! The history actor's handlers for the store's server API: API keys, notifications, and the
//! customer and author of a store message. Each only calls the plain queries of `db`.

use super::actor::HistoryActor;
use super::messages::*;
use crate::db::api_keys::{self, ApiKeyRow};
use crate::db::models::UserRow;
use crate::db::notifications::{self, NotificationInput, NotificationRow};
use crate::db::{store_account, users, DbConn, StorageError};
use crate::domain::now_millis;
use actix::Handler;

/// The account the store names, if it exists.
fn find_customer(
    conn: &mut DbConn,
    customer: &CustomerRef,
) -> Result<Option<UserRow>, StorageError> {
    match customer {
        CustomerRef::ExternalId(external_id) => {
            users::find_by_external_id(conn, external_id.as_str())
        }
        CustomerRef::Id(id) => users::find_by_id(conn, *id),
    }
}

impl Handler<CreateApiKey> for HistoryActor {
    type Result = Result<ApiKeyRow, StorageError>;

    fn handle(&mut self, msg: CreateApiKey, _: &mut Self::Context) -> Self::Result {
        api_keys::insert_key(
            &mut *self.conn()?,
            msg.name.as_str(),
            &msg.key_digest,
            now_millis(),
        )
    }
}

impl Handler<ListApiKeys> for HistoryActor {
    type Result = Result<Vec<ApiKeyRow>, StorageError>;

    fn handle(&mut self, _: ListApiKeys, _: &mut Self::Context) -> Self::Result {
        api_keys::list_keys(&mut *self.conn()?)
    }
}

impl Handler<RevokeApiKey> for HistoryActor {
    type Result = Result<(), StorageError>;

    fn handle(&mut self, msg: RevokeApiKey, _: &mut Self::Context) -> Self::Result {
        api_keys::revoke_key(&mut *self.conn()?, msg.id, now_millis())
    }
}

impl Handler<UseApiKey> for HistoryActor {
    type Result = Result<Option<ApiKeyRow>, StorageError>;

    fn handle(&mut self, msg: UseApiKey, _: &mut Self::Context) -> Self::Result {
        api_keys::use_key(&mut *self.conn()?, &msg.key_digest, now_millis())
    }
}

impl Handler<CreateNotification> for HistoryActor {
    type Result = Result<NotificationRow, StorageError>;

    fn handle(&mut self, msg: CreateNotification, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.conn()?;
        let customer = find_customer(&mut conn, &msg.customer)?.ok_or(StorageError::NotFound)?;
        let n = &msg.notification;
        let input = NotificationInput {
            user: crate::domain::UserId(customer.id),
            title: n.title(),
            body: n.body(),
            link: n.link(),
        };
        notifications::insert_notification(&mut conn, &input, now_millis())
    }
}

impl Handler<ListNotifications> for HistoryActor {
    type Result = Result<NotificationsPage, StorageError>;

    fn handle(&mut self, msg: ListNotifications, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.conn()?;
        let (notifications, more) =
            notifications::list_notifications(&mut conn, msg.user, msg.before, msg.limit)?;
        let unread = notifications::unread_notifications(&mut conn, msg.user)?;
        Ok(NotificationsPage {
            notifications,
            more,
            unread,
        })
    }
}

impl Handler<ReadNotification> for HistoryActor {
    type Result = Result<i64, StorageError>;

    fn handle(&mut self, msg: ReadNotification, _: &mut Self::Context) -> Self::Result {
        notifications::mark_notification_read(&mut *self.conn()?, msg.user, msg.id, now_millis())
    }
}

impl Handler<ReadAllNotifications> for HistoryActor {
    type Result = Result<(), StorageError>;

    fn handle(&mut self, msg: ReadAllNotifications, _: &mut Self::Context) -> Self::Result {
        notifications::mark_all_notifications_read(&mut *self.conn()?, msg.user, now_millis())
    }
}

impl Handler<PrepareStoreMessage> for HistoryActor {
    type Result = Result<(UserRow, UserRow), StorageError>;

    fn handle(&mut self, msg: PrepareStoreMessage, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.conn()?;
        let customer = users::find_by_external_id(&mut conn, msg.external_id.as_str())?
            .ok_or(StorageError::NotFound)?;
        let author = store_account::store_account(&mut conn)?;
        Ok((customer, author))
    }
}

impl Handler<CountNotifications> for HistoryActor {
    type Result = Result<(i64, i64), StorageError>;

    fn handle(&mut self, msg: CountNotifications, _: &mut Self::Context) -> Self::Result {
        notifications::unread_notifications_counted(&mut *self.conn()?, msg.user)
    }
}

impl Handler<FindCustomer> for HistoryActor {
    type Result = Result<Option<UserRow>, StorageError>;

    fn handle(&mut self, msg: FindCustomer, _: &mut Self::Context) -> Self::Result {
        users::find_by_external_id(&mut *self.conn()?, msg.external_id.as_str())
    }
}
