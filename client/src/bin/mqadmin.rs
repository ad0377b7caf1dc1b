//! `mqadmin`: RocketMQ's admin tool for raftmq. Parses the command line,
//! calls [`raftmq_client::admin`], prints, and exits 0, 1 (failed) or 2 (bad
//! usage, nothing sent).

use std::process::ExitCode;

use clap::{ArgGroup, Args, Parser, Subcommand};
use raftmq_client::admin::{
    self, check_addr, AdminError, BrokerClient, GroupOptions, GroupSpec, NamesrvAddrs,
    NamesrvClient, SubGroupTarget, TopicAttributes, TopicSpec, NAMESRV_ADDR_ENV,
};

#[derive(Debug, Parser)]
#[command(
    name = "mqadmin",
    version,
    about = "Administer a raftmq cluster (RocketMQ's mqadmin commands)",
    after_help = "The nameserver list comes from -n, or else from the NAMESRV_ADDR \
                  environment variable; nameservers are tried in order.\n\
                  Exit codes: 0 done, 1 failed, 2 bad usage (nothing sent)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every member of every broker group, leaders (BID 0) first
    #[command(name = "clusterList")]
    ClusterList {
        #[command(flatten)]
        namesrv: Namesrv,
        /// Only this cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// List every topic, one per line
    #[command(name = "topicList")]
    TopicList {
        #[command(flatten)]
        namesrv: Namesrv,
        /// Only the topics of this cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Print a topic's route as JSON
    #[command(name = "topicRoute")]
    TopicRoute {
        #[command(flatten)]
        namesrv: Namesrv,
        /// The topic
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Create a topic or change its queues, permission and message type
    #[command(name = "updateTopic")]
    UpdateTopic(UpdateTopicArgs),
    /// Print one broker member's status (its role, term, leader, log)
    #[command(name = "brokerStatus")]
    BrokerStatus {
        /// The member's client address, host:port
        #[arg(short = 'b', long = "brokerAddr")]
        broker: String,
        /// Accepted for habit's sake; the member is called directly
        #[arg(short = 'n', long = "namesrvAddr")]
        _namesrv: Option<String>,
    },
    /// Show a consumer group's offsets and lag, queue by queue; without -g,
    /// list every consumer group with its consumers and lag
    #[command(name = "consumerProgress")]
    ConsumerProgress {
        #[command(flatten)]
        namesrv: Namesrv,
        /// The consumer group; every group when left out
        #[arg(short = 'g', long = "groupName")]
        group: Option<String>,
        /// Only this topic
        #[arg(short = 't', long = "topicName")]
        topic: Option<String>,
    },
    /// Send one message (through the SDK) and print where it went
    #[command(name = "sendMessage")]
    SendMessage {
        #[command(flatten)]
        namesrv: Namesrv,
        /// The topic
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// The body
        #[arg(short = 'p', long = "body")]
        body: String,
        /// The tag
        #[arg(short = 'c', long = "tags")]
        tag: Option<String>,
        /// Keys, separated by spaces
        #[arg(short = 'k', long = "keys")]
        keys: Option<String>,
    },
    /// Print messages of a topic (every queue, from the start or -o)
    #[command(name = "consumeMessage")]
    ConsumeMessage {
        #[command(flatten)]
        namesrv: Namesrv,
        /// The topic
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// The consumer group used to read (nothing is committed)
        #[arg(short = 'g', long = "consumerGroup", default_value = "mqadmin-consume")]
        group: String,
        /// Start at this offset in every queue
        #[arg(short = 'o', long = "offset")]
        offset: Option<i64>,
        /// At most this many messages
        #[arg(short = 'c', long = "MessageNumber", default_value_t = 128)]
        count: usize,
    },
    /// Create a consumer group or replace its configuration
    #[command(name = "updateSubGroup")]
    UpdateSubGroup(UpdateSubGroupArgs),
    /// Delete a consumer group
    #[command(name = "deleteSubGroup")]
    DeleteSubGroup(DeleteSubGroupArgs),
    /// Print a consumer group's configuration on every broker group
    #[command(name = "getConsumerConfig")]
    GetConsumerConfig {
        #[command(flatten)]
        namesrv: Namesrv,
        /// The consumer group
        #[arg(short = 'g', long = "groupName")]
        group: String,
    },
    /// Delete a topic from every broker group of a cluster
    #[command(name = "deleteTopic")]
    DeleteTopic {
        #[command(flatten)]
        namesrv: Namesrv,
        /// The topic
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// The cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster: String,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["cluster", "broker"])))]
struct UpdateTopicArgs {
    #[command(flatten)]
    namesrv: Namesrv,
    /// The topic: up to 127 of A-Z a-z 0-9 and %|_-. characters
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// On every broker group of this cluster (one member each, leader first)
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    /// On the group of the broker at this host:port
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    /// Read queues, 1 to 1024
    #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
    read_queues: u32,
    /// Write queues, 1 to 1024
    #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
    write_queues: u32,
    /// Permission: read 4 + write 2 + inherit 1
    #[arg(short = 'p', long = "perm", default_value_t = 6)]
    perm: u32,
    /// Attribute changes, comma-separated: +message.type=NORMAL|FIFO|DELAY|TRANSACTION|MIXED
    /// sets the topic's message type, -message.type removes it; without -a
    /// an existing topic keeps its type
    #[arg(short = 'a', long = "attributes", allow_hyphen_values = true)]
    attributes: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["cluster", "broker"])))]
struct UpdateSubGroupArgs {
    #[command(flatten)]
    namesrv: Namesrv,
    /// On the group of the broker at this host:port
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    /// On every broker group of this cluster (one member each, leader first)
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    /// The consumer group: up to 255 of A-Z a-z 0-9 and %|_- characters
    #[arg(short = 'g', long = "groupName")]
    group: String,
    /// consumeEnable: true, or false to refuse the group's receives [default: true]
    #[arg(short = 's', long = "consumeEnable")]
    consume_enable: Option<String>,
    /// consumeBroadcastEnable: true or false [default: false]
    #[arg(short = 'd', long = "consumeBroadcastEnable")]
    broadcast: Option<String>,
    /// consumeMessageOrderly: true for a FIFO group [default: false]
    #[arg(short = 'o', long = "consumeMessageOrderly")]
    orderly: Option<String>,
    /// retryMaxTimes: deliveries after the first before %DLQ%<group> [default: 16]
    #[arg(short = 'r', long = "retryMaxTimes")]
    retry_max_times: Option<String>,
    /// groupRetryPolicy as JSON, e.g.
    /// {"type":"EXPONENTIAL","exponentialRetryPolicy":{"initial":5000,"max":7200000,"multiplier":2}}
    /// or {"type":"CUSTOMIZED","customizedRetryPolicy":{"next":[1000,5000,10000]}}
    #[arg(short = 'p', long = "groupRetryPolicy")]
    retry_policy: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["cluster", "broker"])))]
struct DeleteSubGroupArgs {
    #[command(flatten)]
    namesrv: Namesrv,
    /// From the group of the broker at this host:port
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    /// From every broker group of this cluster, with the group's %RETRY% and %DLQ% topics
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    /// The consumer group
    #[arg(short = 'g', long = "groupName")]
    group: String,
    /// removeOffset: true to delete the group's committed offsets too [default: false]
    #[arg(short = 'r', long = "removeOffset")]
    remove_offset: Option<String>,
}

impl UpdateSubGroupArgs {
    fn target(&self) -> Result<SubGroupTarget, AdminError> {
        target(self.broker.as_deref(), self.cluster.as_deref())
    }
}

/// `-b` (checked) or `-c`; clap's "target" group makes one of them given.
fn target(broker: Option<&str>, cluster: Option<&str>) -> Result<SubGroupTarget, AdminError> {
    match (broker, cluster) {
        (Some(b), _) => Ok(SubGroupTarget::Broker(check_addr("-b", b)?.to_owned())),
        (None, Some(c)) => Ok(SubGroupTarget::Cluster(c.to_owned())),
        (None, None) => Err(AdminError::InvalidOption {
            option: "-c",
            value: String::new(),
            reason: "pass -c CLUSTER or -b BROKER_ADDR".to_owned(),
        }),
    }
}

#[derive(Debug, Args)]
struct Namesrv {
    /// Nameservers, host:port;host:port [default: $NAMESRV_ADDR]
    #[arg(short = 'n', long = "namesrvAddr", value_name = "ADDRS")]
    addrs: Option<String>,
}

impl Namesrv {
    fn addrs(&self) -> Result<NamesrvAddrs, AdminError> {
        let env = std::env::var(NAMESRV_ADDR_ENV).ok();
        NamesrvAddrs::resolve(self.addrs.as_deref(), env.as_deref())
    }

    fn client(&self) -> Result<NamesrvClient, AdminError> {
        Ok(NamesrvClient::new(self.addrs()?))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mqadmin: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A failure after part of the work prints that part, then the error.
    let (printed, failed) = match runtime.block_on(run(cli.command)) {
        Ok((printed, failed)) => (printed, failed),
        Err(e) => (String::new(), Some(e)),
    };
    print!("{printed}");
    match failed {
        None => ExitCode::SUCCESS,
        Some(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs one command: what to print, and the error to report after it.
async fn run(command: Command) -> Result<(String, Option<AdminError>), AdminError> {
    match command {
        Command::ClusterList { namesrv, cluster } => {
            let rows = admin::cluster_list(&namesrv.client()?, cluster.as_deref()).await?;
            Ok((admin::render_cluster_list(&rows), None))
        }
        Command::TopicList { namesrv, cluster } => {
            let topics = admin::topic_list(&namesrv.client()?, cluster.as_deref()).await?;
            Ok((admin::render_topic_list(&topics), None))
        }
        Command::TopicRoute { namesrv, topic } => {
            let route = admin::topic_route(&namesrv.client()?, &topic).await?;
            Ok((admin::render_topic_route(&route), None))
        }
        Command::UpdateTopic(args) => {
            let attributes = match args.attributes.as_deref() {
                Some(a) => TopicAttributes::parse(a)?,
                None => TopicAttributes::default(),
            };
            let spec = TopicSpec::new(&args.topic, args.read_queues, args.write_queues, args.perm)?
                .with_attributes(attributes);
            let brokers = BrokerClient::new();
            let outcome = match (args.broker, args.cluster) {
                (Some(broker), _) => {
                    let broker = check_addr("-b", &broker)?;
                    admin::update_topic_on_broker(&brokers, spec, broker).await?
                }
                (None, Some(cluster)) => {
                    let namesrv = args.namesrv.client()?;
                    admin::update_topic_on_cluster(&namesrv, &brokers, spec, &cluster).await?
                }
                (None, None) => {
                    // clap's "target" group rules this out.
                    return Err(AdminError::InvalidOption {
                        option: "-c",
                        value: String::new(),
                        reason: "pass -c CLUSTER or -b BROKER_ADDR".to_owned(),
                    });
                }
            };
            Ok((outcome.render(), outcome.into_error()))
        }
        Command::ConsumerProgress {
            namesrv,
            group: Some(group),
            topic,
        } => {
            let progress = admin::consumer_progress(
                &namesrv.client()?,
                &BrokerClient::new(),
                &group,
                topic.as_deref(),
            )
            .await?;
            Ok((admin::render_consumer_progress(&progress), None))
        }
        Command::ConsumerProgress {
            namesrv,
            group: None,
            ..
        } => {
            let rows = admin::group_list(&namesrv.client()?, &BrokerClient::new()).await?;
            Ok((admin::render_group_list(&rows), None))
        }
        Command::UpdateSubGroup(args) => {
            let spec = GroupSpec::new(&GroupOptions {
                group: &args.group,
                consume_enable: args.consume_enable.as_deref(),
                broadcast: args.broadcast.as_deref(),
                orderly: args.orderly.as_deref(),
                retry_max_times: args.retry_max_times.as_deref(),
                retry_policy: args.retry_policy.as_deref(),
            })?;
            let target = args.target()?;
            let namesrv = match target {
                SubGroupTarget::Cluster(_) => Some(args.namesrv.client()?),
                SubGroupTarget::Broker(_) => None,
            };
            let outcome =
                admin::update_sub_group(namesrv.as_ref(), &BrokerClient::new(), spec, &target)
                    .await?;
            Ok((outcome.render(), outcome.into_error()))
        }
        Command::DeleteSubGroup(args) => {
            let remove_offset = match args.remove_offset.as_deref() {
                None => false,
                Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(AdminError::InvalidOption {
                            option: "-r",
                            value: v.to_owned(),
                            reason: "use true or false".into(),
                        })
                    }
                },
            };
            let target = target(args.broker.as_deref(), args.cluster.as_deref())?;
            let namesrv = match target {
                SubGroupTarget::Cluster(_) => Some(args.namesrv.client()?),
                SubGroupTarget::Broker(_) => None,
            };
            let outcome = admin::delete_sub_group(
                namesrv.as_ref(),
                &BrokerClient::new(),
                &args.group,
                remove_offset,
                &target,
            )
            .await?;
            Ok((outcome.render(), outcome.into_error()))
        }
        Command::GetConsumerConfig { namesrv, group } => {
            let configs =
                admin::get_consumer_config(&namesrv.client()?, &BrokerClient::new(), &group)
                    .await?;
            Ok((admin::render_consumer_config(&configs), None))
        }
        Command::SendMessage {
            namesrv,
            topic,
            body,
            tag,
            keys,
        } => {
            let r = admin::send_message(
                &namesrv.addrs()?,
                &topic,
                &body,
                tag.as_deref(),
                keys.as_deref(),
            )
            .await?;
            Ok((admin::render_send_result(&r), None))
        }
        Command::ConsumeMessage {
            namesrv,
            topic,
            group,
            offset,
            count,
        } => {
            let msgs =
                admin::consume_message(&namesrv.addrs()?, &topic, &group, offset, count).await?;
            Ok((admin::render_messages(&msgs), None))
        }
        Command::BrokerStatus { broker, .. } => {
            let broker = check_addr("-b", &broker)?;
            let entries = admin::broker_status(&BrokerClient::new(), broker).await?;
            Ok((admin::render_broker_status(&entries), None))
        }
        Command::DeleteTopic {
            namesrv,
            topic,
            cluster,
        } => {
            admin::check_topic(&topic)?;
            let outcome =
                admin::delete_topic(&namesrv.client()?, &BrokerClient::new(), &topic, &cluster)
                    .await?;
            Ok((outcome.render(), outcome.into_error()))
        }
    }
}
