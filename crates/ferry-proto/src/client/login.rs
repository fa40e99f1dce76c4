//! The login sequence (RFC 959 §5.4, RFC 2228 §3) as a sans-IO state machine.
//!
//! ```text
//!  AwaitGreeting --220--> SendUser --USER--> AwaitUser --331--> SendPass --PASS--> AwaitPass
//!       | 120: wait                              | 230/232/202: logged in            | 230/202: logged in
//!                                                | 332 --> SendAcct                  | 332 --> SendAcct
//!  SendAcct --ACCT--> AwaitAcct --230/202--> LoggedIn
//!  any 4yz/5yz, a 332 without an account, or an out-of-sequence reply --> Failed (error)
//! ```
//!
//! The driver alternates [`Login::next_command`] (send what it returns) and
//! [`Login::on_reply`] (feed each complete reply) until [`LoginStep::LoggedIn`] or an error.
//! After explicit AUTH TLS the greeting has already been read: start with
//! [`Login::after_greeting`].

use crate::command::Password;
use crate::reply::{ReplyClass, ReplyCode};
use crate::{Command, Reply};

/// Where the login is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginStage {
    /// Waiting for the server's greeting.
    Greeting,
    /// USER was sent (or is to be sent).
    User,
    /// PASS was sent (or is to be sent).
    Pass,
    /// ACCT was sent (or is to be sent).
    Acct,
}

impl std::fmt::Display for LoginStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LoginStage::Greeting => "greeting",
            LoginStage::User => "USER",
            LoginStage::Pass => "PASS",
            LoginStage::Acct => "ACCT",
        })
    }
}

/// What the driver does next after a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginStep {
    /// A command is ready: call [`Login::next_command`] and send it.
    Send,
    /// A preliminary reply (120 "service ready in nnn minutes"): keep reading replies.
    Wait,
    /// Logged in; the code is 230, 232 (RFC 2228: authorised by the security exchange, e.g.
    /// a TLS client certificate) or 202 (ACCT/PASS superfluous).
    LoggedIn(ReplyCode),
}

/// Why the login failed. The reply code and text are data; the password never appears.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The server refused (4yz or 5yz).
    #[error("login refused at {stage}: {code} {text}")]
    Rejected {
        /// Where.
        stage: LoginStage,
        /// The reply code (e.g. 530, or 421 when the server is full).
        code: ReplyCode,
        /// The reply text (lines joined with `\n`).
        text: String,
    },
    /// The server asked for an account (332) but none was given.
    #[error("the server needs an account (ACCT) at {stage}: {code} {text}")]
    AccountRequired {
        /// Where.
        stage: LoginStage,
        /// The reply code (332).
        code: ReplyCode,
        /// The reply text.
        text: String,
    },
    /// A positive reply that does not fit the sequence (e.g. 350 after USER).
    #[error("unexpected reply at {stage}: {code} {text}")]
    Unexpected {
        /// Where.
        stage: LoginStage,
        /// The reply code.
        code: ReplyCode,
        /// The reply text.
        text: String,
    },
    /// A reply arrived while no command was outstanding (before `next_command`, or after
    /// the login ended).
    #[error("reply {code} while no login command was outstanding")]
    NotWaiting {
        /// The reply code.
        code: ReplyCode,
    },
}

impl LoginError {
    /// True when retrying later may succeed (a 4yz reply such as 421 "too many users").
    pub fn is_transient(&self) -> bool {
        matches!(self, LoginError::Rejected { code, .. }
            if code.class() == ReplyClass::TransientNegative)
    }

    /// The reply code that caused the error.
    pub fn code(&self) -> ReplyCode {
        match self {
            LoginError::Rejected { code, .. }
            | LoginError::AccountRequired { code, .. }
            | LoginError::Unexpected { code, .. }
            | LoginError::NotWaiting { code } => *code,
        }
    }
}

/// The state (see the module diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitGreeting,
    Send(LoginStage),
    Await(LoginStage),
    LoggedIn(ReplyCode),
    Failed,
}

/// The login state machine. `Debug` shows the user and state, never the password.
#[derive(Debug, Clone)]
pub struct Login {
    user: String,
    password: Password,
    account: Option<String>,
    state: State,
}

impl Login {
    /// A login that first waits for the server's greeting.
    pub fn new(user: impl Into<String>, password: Password, account: Option<String>) -> Self {
        Login {
            user: user.into(),
            password,
            account,
            state: State::AwaitGreeting,
        }
    }

    /// A login whose greeting was already read (e.g. before AUTH TLS): USER is ready.
    pub fn after_greeting(
        user: impl Into<String>,
        password: Password,
        account: Option<String>,
    ) -> Self {
        let mut l = Login::new(user, password, account);
        l.state = State::Send(LoginStage::User);
        l
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The command to send now, if one is due. Calling it moves the machine to waiting for
    /// that command's reply, so each command is returned once.
    pub fn next_command(&mut self) -> Option<Command> {
        let State::Send(stage) = self.state else {
            return None;
        };
        let cmd = match stage {
            LoginStage::Greeting => return None,
            LoginStage::User => Command::User(self.user.clone()),
            LoginStage::Pass => Command::Pass(self.password.clone()),
            LoginStage::Acct => Command::Acct(self.account.clone().unwrap_or_default()),
        };
        self.state = State::Await(stage);
        Some(cmd)
    }

    /// Feeds a complete reply.
    pub fn on_reply(&mut self, reply: &Reply) -> Result<LoginStep, LoginError> {
        let code = reply.code;
        let stage = match self.state {
            State::AwaitGreeting => LoginStage::Greeting,
            State::Await(stage) => stage,
            State::Send(_) | State::LoggedIn(_) | State::Failed => {
                return Err(LoginError::NotWaiting { code });
            }
        };
        let result = self.transition(stage, reply);
        self.state = match &result {
            Ok(LoginStep::Send) => self.state,
            Ok(LoginStep::Wait) => self.state,
            Ok(LoginStep::LoggedIn(c)) => State::LoggedIn(*c),
            Err(_) => State::Failed,
        };
        result
    }

    /// One transition: sets `self.state` for `Send`, returns the step or error.
    fn transition(&mut self, stage: LoginStage, reply: &Reply) -> Result<LoginStep, LoginError> {
        let code = reply.code;
        let n = code.get();
        let text = || reply.text();
        match code.class() {
            ReplyClass::TransientNegative | ReplyClass::PermanentNegative => {
                return Err(LoginError::Rejected {
                    stage,
                    code,
                    text: text(),
                });
            }
            _ => {}
        }
        let unexpected = || LoginError::Unexpected {
            stage,
            code,
            text: text(),
        };
        match (stage, n) {
            (LoginStage::Greeting, 220) => {
                self.state = State::Send(LoginStage::User);
                Ok(LoginStep::Send)
            }
            (LoginStage::Greeting, 120) => Ok(LoginStep::Wait),
            (LoginStage::Greeting, _) => Err(unexpected()),
            (LoginStage::User, 230 | 232 | 202) => Ok(LoginStep::LoggedIn(code)),
            (LoginStage::User, 331) => {
                self.state = State::Send(LoginStage::Pass);
                Ok(LoginStep::Send)
            }
            (LoginStage::User | LoginStage::Pass, 332) => {
                if self.account.is_none() {
                    return Err(LoginError::AccountRequired {
                        stage,
                        code,
                        text: text(),
                    });
                }
                self.state = State::Send(LoginStage::Acct);
                Ok(LoginStep::Send)
            }
            (LoginStage::Pass | LoginStage::Acct, 230 | 202) => Ok(LoginStep::LoggedIn(code)),
            // 232 is RFC 2228's answer to USER; accept it after PASS too (it means logged in).
            (LoginStage::Pass, 232) => Ok(LoginStep::LoggedIn(code)),
            _ => Err(unexpected()),
        }
    }

    /// True once logged in.
    pub fn is_logged_in(&self) -> bool {
        matches!(self.state, State::LoggedIn(_))
    }

    /// True after an error.
    pub fn is_failed(&self) -> bool {
        self.state == State::Failed
    }

    /// The stage being worked on (`None` once logged in or failed).
    pub fn stage(&self) -> Option<LoginStage> {
        match self.state {
            State::AwaitGreeting => Some(LoginStage::Greeting),
            State::Send(s) | State::Await(s) => Some(s),
            State::LoggedIn(_) | State::Failed => None,
        }
    }
}
