//! Contacts and chats of account networks: `pm`, `search`, `list`, `open`
//! and `sync`, through the network's `ContactHandling`. Each acts through
//! the user's first login.

use crate::commands::{Command, CommandContext, CommandError, CommandResult};
use crate::network::{Contact, ContactHandling};
use crate::permissions::Level;
use crate::store::LoginRow;

const PAGE: usize = 20;

pub(crate) fn commands() -> Vec<Command> {
    vec![
        Command::new(
            "pm",
            "Chats",
            "<phone number or username>",
            "Start a private chat with someone.",
            Level::User,
            pm,
        ),
        Command::new(
            "search",
            "Chats",
            "<query>",
            "Search your contacts.",
            Level::User,
            search,
        ),
        Command::new(
            "list",
            "Chats",
            "<contacts|groups> [page]",
            "List your contacts or your group chats.",
            Level::User,
            list,
        ),
        Command::new(
            "open",
            "Chats",
            "<chat ID>",
            "Open one of your chats as a room (IDs are in `list groups`).",
            Level::User,
            open,
        ),
        Command::new(
            "sync",
            "Chats",
            "",
            "Make rooms for your recently active chats.",
            Level::User,
            sync,
        ),
    ]
}

/// The network's contacts, and the login commands act through.
async fn login_and_contacts(
    ctx: &CommandContext,
) -> Result<(LoginRow, &dyn ContactHandling), CommandError> {
    let Some(contacts) = ctx.bridge.network().contacts() else {
        return Err(ctx.usage_error("This bridge cannot list contacts or chats."));
    };
    let logins = ctx
        .bridge
        .store()
        .logins_of(ctx.bridge.secrets(), &ctx.sender)
        .await?;
    let login = logins
        .into_iter()
        .next()
        .ok_or_else(|| ctx.usage_error("You are not logged in: send `login` first."))?;
    Ok((login, contacts))
}

fn contact_line(contact: &Contact) -> String {
    let name = contact
        .ghost
        .displayname
        .as_deref()
        .unwrap_or(contact.identifier.as_str());
    format!(
        "* {} (`{}`)",
        crate::format::escape_markdown(name),
        crate::format::escape_markdown(&contact.identifier)
    )
}

async fn pm(ctx: CommandContext) -> CommandResult {
    let identifier = ctx.args.join(" ");
    if identifier.is_empty() {
        return Err(ctx.usage_error("Say whom to chat with."));
    }
    let (login, contacts) = login_and_contacts(&ctx).await?;
    let Some(contact) = contacts.resolve_identifier(&login, &identifier).await? else {
        return Err(ctx.usage_error(format!(
            "Nobody on {} has `{identifier}`.",
            ctx.bridge.network().info().name
        )));
    };
    let portal = ctx.bridge.open_dm(&ctx.sender, &login, &contact).await?;
    ctx.reply(&format!(
        "Invited you to a private chat with {}: {}",
        contact_line(&contact).trim_start_matches("* "),
        portal.room_id.unwrap_or_default()
    ))
    .await?;
    Ok(())
}

async fn search(ctx: CommandContext) -> CommandResult {
    let query = ctx.args.join(" ");
    if query.is_empty() {
        return Err(ctx.usage_error("Say what to search for."));
    }
    let (login, contacts) = login_and_contacts(&ctx).await?;
    let found = contacts.search_contacts(&login, &query).await?;
    let reply = if found.is_empty() {
        format!(
            "No contact matches `{}`.",
            crate::format::escape_markdown(&query)
        )
    } else {
        let lines: Vec<String> = found.iter().take(PAGE).map(contact_line).collect();
        format!("Contacts matching the search:\n\n{}", lines.join("\n"))
    };
    ctx.reply(&reply).await?;
    Ok(())
}

async fn list(ctx: CommandContext) -> CommandResult {
    let what = ctx.args.first().map(String::as_str);
    let page: usize = match ctx.args.get(1) {
        Some(n) => n
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ctx.usage_error(format!("`{n}` is not a page number.")))?,
        None => 1,
    };
    let (login, contacts) = login_and_contacts(&ctx).await?;
    let lines: Vec<String> = match what {
        Some("contacts") => contacts
            .list_contacts(&login)
            .await?
            .iter()
            .map(contact_line)
            .collect(),
        Some("groups") => contacts
            .list_chats(&login)
            .await?
            .into_iter()
            .filter(|chat| !chat.direct)
            .map(|chat| {
                format!(
                    "* {} (`{}`)",
                    crate::format::escape_markdown(&chat.name),
                    crate::format::escape_markdown(&chat.id)
                )
            })
            .collect(),
        _ => return Err(ctx.usage_error("Say `contacts` or `groups`.")),
    };
    if lines.is_empty() {
        let kind = if what == Some("contacts") {
            "contacts"
        } else {
            "group chats"
        };
        ctx.reply(&format!(
            "You have no {kind} on {}.",
            ctx.bridge.network().info().name
        ))
        .await?;
        return Ok(());
    }
    let pages = lines.len().div_ceil(PAGE);
    let shown: Vec<String> = lines
        .into_iter()
        .skip((page - 1) * PAGE)
        .take(PAGE)
        .collect();
    let reply = if shown.is_empty() {
        format!("Nothing on page {page}; there are {pages}.")
    } else {
        format!("Page {page} of {pages}:\n\n{}", shown.join("\n"))
    };
    ctx.reply(&reply).await?;
    Ok(())
}

async fn open(ctx: CommandContext) -> CommandResult {
    let [chat] = ctx.args.as_slice() else {
        return Err(ctx.usage_error("Say which chat."));
    };
    let (login, contacts) = login_and_contacts(&ctx).await?;
    let Some(mut info) = contacts.chat_portal(&login, chat).await? else {
        return Err(ctx.usage_error(format!(
            "You have no chat `{}`; see `list groups`.",
            crate::format::escape_markdown(chat)
        )));
    };
    info.invite.push(ctx.sender.clone());
    info.login = Some(login.login_id.clone());
    let portal = ctx.bridge.ensure_portal_room(&info).await?;
    ctx.reply(&format!(
        "Invited you to the room of `{}`: {}",
        crate::format::escape_markdown(chat),
        portal.room_id.unwrap_or_default()
    ))
    .await?;
    Ok(())
}

async fn sync(ctx: CommandContext) -> CommandResult {
    let (login, _) = login_and_contacts(&ctx).await?;
    let days = ctx.bridge.config().bridge.sync_active_days;
    let opened = ctx.bridge.sync_chats(&login).await?;
    ctx.reply(&format!(
        "Synced: {opened} chat(s) active in the last {days} days have rooms."
    ))
    .await?;
    Ok(())
}

impl crate::bridge::Bridge {
    /// Makes rooms for a login's chats active within
    /// `bridge.sync_active_days`, the `bridge.sync_create_limit` most recent,
    /// inviting its user; returns how many. Run
    /// by `sync`, and once when a login is added.
    pub async fn sync_chats(&self, login: &LoginRow) -> anyhow::Result<usize> {
        let Some(contacts) = self.network().contacts() else {
            return Ok(0);
        };
        let days = self.config().bridge.sync_active_days;
        let since = crate::store::now_ms() - i64::try_from(days * 86_400_000).unwrap_or(i64::MAX);
        let mut chats: Vec<_> = contacts
            .list_chats(login)
            .await?
            .into_iter()
            .filter(|chat| chat.last_activity.is_some_and(|at| at >= since))
            .collect();
        chats.sort_by_key(|chat| std::cmp::Reverse(chat.last_activity));
        chats.truncate(self.config().bridge.sync_create_limit);
        let mut opened = 0;
        for chat in chats {
            if let Some(mut info) = contacts.chat_portal(login, &chat.id).await? {
                info.invite.push(login.mxid.clone());
                info.login = Some(login.login_id.clone());
                self.ensure_portal_room(&info).await?;
                opened += 1;
            }
        }
        Ok(opened)
    }

    /// The room of `login`'s direct chat with `contact`, made if needed,
    /// with `user` invited.
    pub(crate) async fn open_dm(
        &self,
        user: &str,
        login: &LoginRow,
        contact: &Contact,
    ) -> anyhow::Result<crate::store::PortalRow> {
        let contacts = self
            .network()
            .contacts()
            .ok_or_else(|| anyhow::anyhow!("this bridge has no contacts"))?;
        let mut info = contacts.dm_portal(login, contact).await?;
        info.invite.push(user.to_owned());
        info.login = Some(login.login_id.clone());
        self.ensure_portal_room(&info).await
    }
}
