# An Auto Scaling group pinned to the release that `dotnet publish -p:ImmutableBakeAmi=true` (or
# `immutable bake-ami`) wrote: copy or link release.auto.tfvars.json next to this file, then plan.
# Terraform loads *.auto.tfvars.json by itself. Not applied by the tests; it shows the hand-off.

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0" }
  }
}

provider "aws" {
  region = var.region
}

resource "aws_autoscaling_group" "app" {
  name_prefix         = "${var.immutable_app}-"
  min_size            = var.instances
  max_size            = var.instances * 2
  desired_capacity    = var.instances
  vpc_zone_identifier = var.subnets
  target_group_arns   = var.target_group_arns

  # The release's own version number, never $Latest or $Default: a new release is a new plan.
  launch_template {
    id      = var.immutable_launch_template_id
    version = var.immutable_launch_template_version
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 90
      auto_rollback          = true
    }
  }

  tag {
    key                 = "immutable.release"
    value               = var.immutable_release_id
    propagate_at_launch = true
  }
}

output "release" {
  value = {
    release = var.immutable_release_id
    image   = var.immutable_image
    ami     = lookup(var.immutable_amis, var.region, null)
    version = var.immutable_launch_template_version
  }
}
